{
  "targets": [
    {
      "target_name": "parloir_native",
      "sources": ["src/addon.c", "src/opus.c", "src/pcm.c", "src/relay.c", "src/timer.c", "src/srtp.c", "src/sender.c", "src/jitter.c", "src/jitter_napi.c", "src/receiver.c", "src/speex_ec.c", "src/apm.cc", "src/apm_engine.cc", "src/apm_pipe.cc"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=c++17", "<!@(pkg-config --cflags webrtc-audio-processing speexdsp)"],
      "defines": ["NAPI_VERSION=9"],
      "libraries": ["-lasound", "-lopus", "-lpthread", "<!@(pkg-config --libs webrtc-audio-processing speexdsp)"],
      "include_dirs": ["/usr/include/opus"]
    }
  ]
}
