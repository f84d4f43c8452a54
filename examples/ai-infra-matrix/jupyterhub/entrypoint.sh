#!/bin/sh
cat /srv/jupyterhub/build-info.txt
