#include <doctest/doctest.h>

#include "scheduler/progress.h"

using namespace featjnd;

TEST_CASE("the ETA adds per stage type: a long training run does not predict hours of evaluations") {
  ProgressDisplay d(101, false);
  d.set_devices({"cpu"});
  d.set_pending({{"prepare", 1}, {"evaluate", 100}});
  CHECK_FALSE(d.estimate().known);
  d.run_ended("finished", "prepare", "prepare", "cpu", 2100.0, "");  // 35 minutes of training
  auto e = d.estimate();
  CHECK_FALSE(e.known);  // nothing measured for the 100 evaluations yet
  CHECK(e.lower_bound);
  d.run_ended("finished", "evaluate", "eval a", "cpu", 2.0, "");
  d.run_ended("finished", "evaluate", "eval b", "cpu", 4.0, "");
  e = d.estimate();
  REQUIRE(e.known);
  CHECK_FALSE(e.lower_bound);
  CHECK(e.seconds == doctest::Approx(98 * 3.0));  // not 98 × (2106 / 3) ≈ 19 h
  // A failed run is counted off but does not change the mean; two devices halve the wait.
  d.run_ended("failed", "evaluate", "eval c", "cpu", 500.0, "");
  CHECK(d.estimate().seconds == doctest::Approx(97 * 3.0));
  ProgressDisplay two(10, false);
  two.set_devices({"cpu:0", "cpu:1"});
  two.set_pending({{"evaluate", 10}});
  two.run_ended("finished", "evaluate", "e", "cpu:0", 10.0, "");
  CHECK(two.estimate().seconds == doctest::Approx(9 * 10.0 / 2));
}
