#!/bin/sh
cat /srv/frontend/build-info.txt
