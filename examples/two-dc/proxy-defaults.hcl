# A bare config entry, as written for `consul config write`.
Kind = "proxy-defaults"
Name = "global"
MeshGateway {
  Mode = "local"
}
