# Who may call payments, api and reports.
config_entries {
  bootstrap = [
    {
      Kind = "service-intentions"
      Name = "payments"
      Sources = [
        { Name = "web", Action = "deny" },     # web never reaches payments...
        { Name = "*", Action = "allow" },      # ...every other service does
      ]
    },
    {
      Kind = "service-intentions"
      Name = "api"
      Sources = [
        {
          Name = "web"
          Permissions = [
            { Action = "deny", HTTP = { PathPrefix = "/admin" } },
            { Action = "allow", HTTP = { PathPrefix = "/v1/", Methods = ["GET", "HEAD"] } },
          ]
        },
      ]
    },
  ]
}
