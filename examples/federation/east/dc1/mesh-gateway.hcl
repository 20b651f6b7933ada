# dc1's mesh gateway, registered with the local agent.
service {
  kind    = "mesh-gateway"
  name    = "mesh-gateway"
  port    = 8443
  address = "10.1.0.5"
  tagged_addresses {
    lan { address = "10.1.0.5"   port = 8443 }
    wan { address = "198.18.1.5" port = 443 }
  }
  proxy {
    config {
      envoy_gateway_no_default_bind       = true
      envoy_gateway_bind_tagged_addresses = true
    }
  }
}
