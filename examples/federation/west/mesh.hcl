# Cluster "west": one datacenter, dc3, with its own trust domain. It exports payments
# to its peer east (exported-services.hcl).
datacenter     = "dc3"
trust_domain   = "a2a2a2a2-0000-4000-8000-000000000002.consul"
node_name      = "dc3-agent-1"
advertise_addr = "10.3.0.9"

service {
  kind    = "mesh-gateway"
  name    = "mesh-gateway"
  port    = 8443
  address = "10.3.0.5"
  tagged_addresses {
    lan { address = "10.3.0.5"   port = 8443 }
    wan { address = "198.18.3.5" port = 443 }
  }
  proxy {
    config {
      envoy_gateway_no_default_bind       = true
      envoy_gateway_bind_tagged_addresses = true
    }
  }
}

catalog = [
  {
    node    = "dc3-app-1"
    address = "10.3.1.10"
    service = {
      kind = "connect-proxy", service = "payments-sidecar-proxy", port = 21000
      proxy = { destination_service_name = "payments", local_service_port = 8080 }
    }
  },
]

peers = [
  {
    name         = "east"
    remote_name  = "west"   # what east calls this cluster
    trust_domain = "e1e1e1e1-0000-4000-8000-000000000001.consul"
    datacenter   = "dc1"
    gateways     = [{ address = "198.18.1.5", port = 443 }]
  },
]
