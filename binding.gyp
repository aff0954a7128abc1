{
  "targets": [
    {
      "target_name": "fulcrum_relay",
      "sources": ["native/relay.c", "native/stream.c", "native/slots.c", "native/tls.c", "native/notify.c", "native/privileges.c", "native/limits.c", "native/udp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", { "type": "none", "sources!": ["native/relay.c", "native/stream.c", "native/slots.c", "native/tls.c", "native/notify.c", "native/privileges.c", "native/limits.c", "native/udp.c"] }]]
    }
  ]
}
