import dj_database_url

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "inventory",
]
DATABASES = {"default": dj_database_url.config(conn_max_age=0)}
