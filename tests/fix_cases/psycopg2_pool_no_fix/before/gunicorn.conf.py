wsgi_app = "api:app"
preload_app = True
workers = 2
