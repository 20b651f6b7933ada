# The sidecar from Consul's mesh gateway documentation: three upstreams in dc2, one per mode.
service {
  name = "web-sidecar-proxy"
  kind = "connect-proxy"
  port = 8181
  proxy {
    destination_service_name = "web"
    local_service_port       = 9090
    mesh_gateway {
      mode = "remote"
    }
    upstreams = [
      {
        destination_name = "api"
        datacenter       = "dc2"
        local_bind_port  = 10000
        mesh_gateway {
          mode = "local"
        }
      },
      {
        destination_name = "db"
        datacenter       = "dc2"
        local_bind_port  = 10001
        mesh_gateway {
          mode = "remote"
        }
      },
      {
        destination_name = "redis"
        datacenter       = "dc2"
        local_bind_port  = 10002
        mesh_gateway {
          mode = "none"
        }
      }
    ]
  }
}
