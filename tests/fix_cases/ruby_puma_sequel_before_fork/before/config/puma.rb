# Puma 7: `preload_app!` is the default in cluster mode, so the master loads config.ru before forking.
workers ENV.fetch("WEB_CONCURRENCY") { 2 }
threads 5, 5
port ENV.fetch("PORT") { 3000 }
