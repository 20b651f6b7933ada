# Cluster "east", datacenter dc1: the primary (its config entries are replicated to dc2).
# east/dc2 holds dc2's own files; meshgw joins the two into the cluster's mesh.
datacenter         = "dc1"
primary_datacenter = "dc1"
trust_domain       = "e1e1e1e1-0000-4000-8000-000000000001.consul"
node_name          = "dc1-agent-1"
advertise_addr     = "10.1.0.9"

catalog = [
  # The billing service's sidecar, on another node of dc1 (web, in web.hcl, runs on the
  # agent's own node).
  {
    node    = "dc1-app-1"
    address = "10.1.1.10"
    service = {
      kind = "connect-proxy", service = "billing-sidecar-proxy", port = 21000
      proxy = { destination_service_name = "billing", local_service_port = 8080 }
    }
  },
]

# Cluster peering with cluster "west" (../../west): its own trust domain and catalog.
peers = [
  {
    name         = "west"
    remote_name  = "east"   # what west calls this cluster
    trust_domain = "a2a2a2a2-0000-4000-8000-000000000002.consul"
    datacenter   = "dc3"
    gateways     = [{ address = "198.18.3.5", port = 443 }]
    services     = [{ name = "payments" }]
  },
]
