# gunicorn settings — production
wsgi_app = "app.web:app"
preload_app = True
workers = 4
