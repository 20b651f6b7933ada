# web in dc1: calls api in dc2 (WAN federation) and payments in cluster west (peering).
service {
  name = "web"
  port = 9090
  connect {
    sidecar_service {
      port = 21000
      proxy {
        upstreams = [
          { destination_name = "api", datacenter = "dc2", local_bind_port = 10000 },
          { destination_name = "payments", destination_peer = "west", local_bind_port = 10001 },
        ]
      }
    }
  }
}
