#!/bin/sh
set -e
exec gunicorn -c gunicorn.conf.py --preload --workers 4 app.web:app
