# Replicated to every datacenter of the cluster: cross-datacenter and peered traffic
# leaves through the local datacenter's mesh gateway.
Kind = "proxy-defaults"
Name = "global"
MeshGateway {
  Mode = "local"
}
