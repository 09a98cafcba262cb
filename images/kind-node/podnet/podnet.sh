#!/bin/sh
# photon-podnet: the offline kind node's pod network (replaces kindnetd, whose Go module the
# proxy does not serve). On every node it writes the CNI config for the node's podCIDR
# (bridge + host-local + portmap, plugins from Debian's containernetworking-plugins), keeps a
# route to every other node's podCIDR via that node's InternalIP, and masquerades traffic
# leaving the cluster's pod subnet. Needs: NODE_NAME, POD_SUBNET, CONTROL_PLANE_ENDPOINT.
set -eu
: "${NODE_NAME:?}" "${POD_SUBNET:?}" "${CONTROL_PLANE_ENDPOINT:?}"
sa=/var/run/secrets/kubernetes.io/serviceaccount
conf=/etc/cni/net.d/10-photon-podnet.conflist

# Talk to the API server directly: the service IP needs kube-proxy, which may not run yet.
kube() {
  kubectl --server "https://$CONTROL_PLANE_ENDPOINT" --certificate-authority "$sa/ca.crt" \
          --token "$(cat "$sa/token")" --request-timeout 20s "$@"
}

write_conf() {  # $1: this node's podCIDR
  cat > "$conf.tmp" <<CONF
{
  "cniVersion": "0.4.0",
  "name": "photon-podnet",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$1"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CONF
  if ! cmp -s "$conf.tmp" "$conf"; then
    mv "$conf.tmp" "$conf"
    echo "wrote $conf for $1"
  else
    rm -f "$conf.tmp"
  fi
}

masquerade="-s $POD_SUBNET ! -d $POD_SUBNET -m comment --comment photon-podnet -j MASQUERADE"
while true; do
  if nodes=$(kube get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'); then
    echo "$nodes" | while read -r name cidr address; do
      [ -n "$cidr" ] || continue
      if [ "$name" = "$NODE_NAME" ]; then
        write_conf "$cidr"
      elif [ -n "$address" ]; then
        ip route replace "$cidr" via "$address"
      fi
    done
  fi
  # shellcheck disable=SC2086
  iptables -t nat -C POSTROUTING $masquerade 2>/dev/null || iptables -t nat -A POSTROUTING $masquerade
  sleep 10
done
