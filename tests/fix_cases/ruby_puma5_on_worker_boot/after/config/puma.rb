# Rails 5.1 template: the worker hook is still commented out. Puma 5 preloads by default because
# the worker count (-w 3) comes from the command line.
port ENV.fetch("PORT") { 3000 }

# on_worker_boot do
#   ActiveRecord::Base.establish_connection if defined?(ActiveRecord)
# end

before_fork do
  # pgforklint --fix: close the master's connections before forking (Active Record < 5.2)
  ActiveRecord::Base.connection.disconnect! if defined?(ActiveRecord::Base)
end

on_worker_boot do
  # pgforklint --fix: each worker opens its own connections
  ActiveRecord::Base.establish_connection if defined?(ActiveRecord::Base)
end
