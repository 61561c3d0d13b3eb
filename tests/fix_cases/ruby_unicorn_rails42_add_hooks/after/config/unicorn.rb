worker_processes Integer(ENV["WEB_CONCURRENCY"] || 3)
timeout 15
preload_app true

before_fork do |server, worker|
  # pgforklint --fix: close the master's connections before forking (Active Record < 5.2)
  ActiveRecord::Base.connection.disconnect! if defined?(ActiveRecord::Base)
end

after_fork do |server, worker|
  # pgforklint --fix: each worker opens its own connections
  ActiveRecord::Base.establish_connection if defined?(ActiveRecord::Base)
end
