# The seed's Unicorn config, before its fix: the app is preloaded, nothing closes the master's connection.
worker_processes Integer(ENV["WEB_CONCURRENCY"] || 3)  # expect: PGF101
timeout 15
preload_app true

before_fork do |server, worker|
  Rails.cache.write("catalog_size", Product.count)  # expect: PGF001
end
