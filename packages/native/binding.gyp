{
  "targets": [
    {
      "target_name": "parloir_native",
      "sources": ["src/addon.c", "src/opus.c", "src/pcm.c", "src/relay.c", "src/timer.c", "src/srtp.c", "src/sender.c", "src/jitter.c", "src/jitter_napi.c", "src/receiver.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=9"],
      "libraries": ["-lasound", "-lopus", "-lpthread"],
      "include_dirs": ["/usr/include/opus"]
    }
  ]
}
