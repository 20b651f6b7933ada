Kind = "exported-services"
Name = "default"
Services = [
  {
    Name      = "payments"
    Consumers = [{ Peer = "east" }]
  },
]
