// The test kit's stateless controllers and cache hook: pages that count
// their renders (so a test sees whether the cache answered), a template
// page, and invalidation through the C++ API. Registered by tetherd.
// Controllers run on acceptor threads: everything here is thread-safe.
#pragma once
#include "tether/app.h"

namespace testkit {

// kit_page, kit_render, kit_invalidate, kit_save (controllers);
// kit_anonymous (is_cacheable hook: nothing cached for a "user" cookie).
void register_controllers(tether::App& app);

}  // namespace testkit
