# pgforklint --fix: Resque forks a child for every job, and Active Record < 5.2 does not discard the
# connections a forked child inherits: close the parent's before each fork, open new ones in the child.
Resque.before_fork do |job|
  ActiveRecord::Base.connection.disconnect! if defined?(ActiveRecord::Base)
end

Resque.after_fork do |job|
  ActiveRecord::Base.establish_connection if defined?(ActiveRecord::Base)
end
