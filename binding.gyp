{
  "targets": [
    {
      "target_name": "wslay",
      "sources": [
        "native/addon.cc",
        "native/addon_data.cc",
        "native/connection.cc",
        "native/connection_batch.cc",
        "native/deflate.cc",
        "native/frame_writer.cc",
        "native/pubsub.cc",
        "native/pubsub_js.cc",
        "native/frame_scanner.cc",
        "native/session.cc",
        "native/session_quiet.cc",
        "native/thread_buffers.cc",
        "native/socket_io.cc",
        "native/utf8.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node deps/find-wslay.js --include)"
      ],
      "libraries": ["<!@(node deps/find-wslay.js --libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-rtti"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CPLUSPLUSFLAGS": ["-fexceptions", "-Wall", "-Wextra"]
      },
      "conditions": [
        ["OS=='linux'", {
          "ldflags": ["-Wl,-rpath,'$$ORIGIN'"]
        }],
        ["'<!(node -p \"process.env.WSLAY_SANITIZE || ''\")'!=''", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
