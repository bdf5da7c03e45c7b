#!/bin/sh
# Start one Swarm node's engine: trust the platform CA (the registry is behind the edge),
# keep clear of the host's 172.17.0.0/16, and answer on a socket the host can reach.
set -eu
# not privileged (this host's engine cannot grant every capability): the node's engine
# needs /sys and its cgroups writable to make containers
mount -o remount,rw /sys
mount -o remount,rw /sys/fs/cgroup
for c in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$c" 2>/dev/null || true; done
if [ -f /moorage/ca.crt ]; then
  cp /moorage/ca.crt /usr/local/share/ca-certificates/moorage-platform.crt
  update-ca-certificates >/dev/null 2>&1
fi
mkdir -p /moorage/run
rm -f /moorage/run/docker.sock /var/run/docker.pid
exec dockerd \
  --host unix:///var/run/docker.sock --host unix:///moorage/run/docker.sock \
  --bip "${NODE_BIP:-10.213.0.1/24}" \
  --default-address-pool "base=${NODE_POOL:-10.214.0.0/16},size=24" \
  --no-new-privileges --storage-driver overlay2 --log-level warn
