#!/bin/sh
cat /srv/backend/build-info.txt
