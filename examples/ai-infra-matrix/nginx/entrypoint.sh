#!/bin/sh
cat /srv/nginx/build-info.txt
