#!/bin/sh
set -e
exec gunicorn --preload --workers 4 app.web:app
