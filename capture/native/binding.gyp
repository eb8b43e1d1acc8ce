{
  # ackscope's capture addon: libpcap (live capture with kernel nanosecond stamps),
  # CLOCK_REALTIME, TCP_INFO and SO_SNDBUF. Built by scripts/build.sh (npm run build:native).
  "targets": [
    {
      "target_name": "ackscope_native",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/clock.cc",
        "src/sockets.cc",
        "src/interfaces.cc",
        "src/live_capture.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # Node-API only (no V8 headers): the same binary runs on Node 20, 22 and 24.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpcap"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        }]
      ]
    }
  ]
}
