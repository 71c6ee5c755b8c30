// Module entry: one AddonData per environment (main thread or worker), and the NativeConnection class.
#include <napi.h>

#include "addon_data.h"
#include "connection.h"

namespace {

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using namespace wslay_node;
  AddonData* data = new AddonData(env);
  env.SetInstanceData(data);
  Napi::Function connection = Connection::DefineClass(env);
  data->connection_class = Napi::Persistent(connection);
  exports.Set("NativeConnection", connection);
  return exports;
}

}  // namespace

NODE_API_MODULE(wslay, InitModule)
