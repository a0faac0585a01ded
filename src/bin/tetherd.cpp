// tetherd: the worker program. It carries the demo notes app ("notes"), the
// test kit ("testkit"), a stateless "hello" controller and the demo
// workflow's steps ("demo_steps"); tether.json's
// rules choose which a path reaches.
#include "apps/demo/notes.h"
#include "apps/testkit/kit_controllers.h"
#include "apps/demo/workflow_steps.h"
#include "apps/testkit/testkit.h"
#include "tether/app.h"

int main(int argc, char** argv) {
  tether::App app;
  app.session<demo::NotesSession>("notes");
  app.session<testkit::KitSession>("testkit");
  app.controller("hello", [](const tether::Request&) { return tether::Response::text("hello\n"); });
  testkit::register_controllers(app);
  app.controller("demo_steps", demo::workflow_step);
  return app.run(argc, argv);
}
