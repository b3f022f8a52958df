#include "wf/matrix.hpp"

#include <doctest/doctest.h>

using wf::Json;
using wf::MatrixParts;

namespace {

// Builds parts from a matrix object whose dimension order is given explicitly.
MatrixParts parts_of(const Json& matrix, const std::vector<std::string>& order) {
  auto r = wf::split_matrix(matrix, order, Json(), Json());
  REQUIRE(r.ok());
  return *r;
}

std::vector<Json> expand(const MatrixParts& parts, std::size_t max_legs = 256) {
  auto r = wf::expand_matrix(parts, max_legs);
  if (!r.ok()) FAIL_CHECK(r.error().message);
  REQUIRE(r.ok());
  return *r;
}

std::string expand_error(const MatrixParts& parts, std::size_t max_legs = 256) {
  auto r = wf::expand_matrix(parts, max_legs);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("matrix: GitHub's include example gives exactly six legs") {
  auto parts = parts_of(Json::parse(R"({
    "fruit": ["apple", "pear"], "animal": ["cat", "dog"],
    "include": [
      {"color": "green"},
      {"color": "pink", "animal": "cat"},
      {"fruit": "apple", "shape": "circle"},
      {"fruit": "banana"},
      {"fruit": "banana", "animal": "cat"}
    ]})"),
                        {"fruit", "animal"});
  auto legs = expand(parts);
  std::vector<Json> want = {
      Json::parse(R"({"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"})"),
      Json::parse(R"({"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"})"),
      Json::parse(R"({"fruit": "pear", "animal": "cat", "color": "pink"})"),
      Json::parse(R"({"fruit": "pear", "animal": "dog", "color": "green"})"),
      Json::parse(R"({"fruit": "banana"})"),
      Json::parse(R"({"fruit": "banana", "animal": "cat"})"),
  };
  CHECK(legs == want);

  auto order = wf::matrix_key_order(parts);
  CHECK(order == std::vector<std::string>{"fruit", "animal", "color", "shape"});
  CHECK(wf::leg_display_name("job", legs[0], order) == "job (apple, cat, pink, circle)");
  CHECK(wf::leg_display_name("job", legs[3], order) == "job (pear, dog, green)");
  CHECK(wf::leg_display_name("job", legs[5], order) == "job (banana, cat)");
}

TEST_CASE("matrix: GitHub's expanding example adds npm only to windows/16") {
  auto parts = parts_of(Json::parse(R"({
    "os": ["windows-latest", "ubuntu-latest"], "node": [14, 16],
    "include": [{"os": "windows-latest", "node": 16, "npm": 6}]})"),
                        {"os", "node"});
  auto legs = expand(parts);
  std::vector<Json> want = {
      Json::parse(R"({"os": "windows-latest", "node": 14})"),
      Json::parse(R"({"os": "windows-latest", "node": 16, "npm": 6})"),
      Json::parse(R"({"os": "ubuntu-latest", "node": 14})"),
      Json::parse(R"({"os": "ubuntu-latest", "node": 16})"),
  };
  CHECK(legs == want);
}

TEST_CASE("matrix: GitHub's exclude example drops the combinations matching on all keys") {
  auto parts = parts_of(Json::parse(R"({
    "os": ["macos-latest", "windows-latest"], "version": [12, 14, 16],
    "environment": ["staging", "production"],
    "exclude": [
      {"os": "macos-latest", "version": 12, "environment": "production"},
      {"os": "windows-latest", "version": 16}
    ]})"),
                        {"os", "version", "environment"});
  auto legs = expand(parts);
  REQUIRE(legs.size() == 9);  // 12 - 1 - 2
  for (const auto& leg : legs) {
    CHECK_FALSE((leg["os"] == "macos-latest" && leg["version"] == 12 && leg["environment"] == "production"));
    CHECK_FALSE((leg["os"] == "windows-latest" && leg["version"] == 16));
  }
  CHECK(legs[0] == Json::parse(R"({"os": "macos-latest", "version": 12, "environment": "staging"})"));
  CHECK(legs[1] == Json::parse(R"({"os": "macos-latest", "version": 14, "environment": "staging"})"));
  CHECK(legs.back() == Json::parse(R"({"os": "windows-latest", "version": 14, "environment": "production"})"));
}

TEST_CASE("matrix: exclude is a partial match and compares values as JSON") {
  auto parts = parts_of(Json::parse(R"({
    "a": [1, 2, "1"], "b": [{"x": 1}, {"x": 1, "y": 2}],
    "exclude": [{"a": 1}, {"b": {"x": 1}}]})"),
                        {"a", "b"});
  auto legs = expand(parts);
  // a=1 (number) is gone; "1" (string) is not; {"x":1} only matches exactly.
  std::vector<Json> want = {
      Json::parse(R"({"a": 2, "b": {"x": 1, "y": 2}})"),
      Json::parse(R"({"a": "1", "b": {"x": 1, "y": 2}})"),
  };
  CHECK(legs == want);
}

TEST_CASE("matrix: an exclude key that is not a dimension is an error") {
  auto parts = parts_of(Json::parse(R"({"a": [1], "b": [2], "exclude": [{"a": 1, "c": 3}]})"), {"a", "b"});
  CHECK(expand_error(parts) == "exclude key 'c' is not a matrix key (keys: a, b)");

  MatrixParts none;
  none.exclude = Json::parse(R"([{"os": "x"}])");
  CHECK(expand_error(none) == "exclude key 'os' is not a matrix key (keys: none)");

  // Keys only added by include are not dimensions either.
  auto added = parts_of(Json::parse(R"({"a": [1], "include": [{"extra": 1}], "exclude": [{"extra": 1}]})"), {"a"});
  CHECK(expand_error(added) == "exclude key 'extra' is not a matrix key (keys: a)");
}

TEST_CASE("matrix: include entries that match nothing are appended and never matched later") {
  auto parts = parts_of(Json::parse(R"({
    "os": ["linux"],
    "include": [
      {"os": "mac", "arch": "arm"},
      {"os": "mac", "arch": "x86"},
      {"arch": "amd64"},
      {"os": "linux", "note": "first"},
      {"os": "linux", "note": "second"}
    ]})"),
                        {"os"});
  auto legs = expand(parts);
  std::vector<Json> want = {
      // the later include overwrites what an earlier include added
      Json::parse(R"({"os": "linux", "arch": "amd64", "note": "second"})"),
      Json::parse(R"({"os": "mac", "arch": "arm"})"),
      Json::parse(R"({"os": "mac", "arch": "x86"})"),
  };
  CHECK(legs == want);
}

TEST_CASE("matrix: include never overwrites an original value") {
  auto parts = parts_of(Json::parse(R"({"os": ["linux", "mac"], "include": [{"os": "linux", "os_ver": 22}]})"), {"os"});
  auto legs = expand(parts);
  std::vector<Json> want = {
      Json::parse(R"({"os": "linux", "os_ver": 22})"),
      Json::parse(R"({"os": "mac"})"),
  };
  CHECK(legs == want);
}

TEST_CASE("matrix: include matches combinations left after exclude only") {
  auto parts = parts_of(Json::parse(R"({
    "os": ["linux", "mac"], "exclude": [{"os": "mac"}], "include": [{"os": "mac", "big": true}]})"),
                        {"os"});
  auto legs = expand(parts);
  std::vector<Json> want = {Json::parse(R"({"os": "linux"})"), Json::parse(R"({"os": "mac", "big": true})")};
  CHECK(legs == want);
}

TEST_CASE("matrix: empty cases") {
  SUBCASE("no dimensions and no include give one empty leg") {
    auto legs = expand(parts_of(Json(), {}));
    REQUIRE(legs.size() == 1);
    CHECK(legs[0] == Json::object());
    CHECK(expand(parts_of(Json::object(), {})) == legs);
  }
  SUBCASE("everything excluded and no include give one empty leg") {
    auto legs = expand(parts_of(Json::parse(R"({"a": [1, 2], "exclude": [{"a": 1}, {"a": 2}]})"), {"a"}));
    REQUIRE(legs.size() == 1);
    CHECK(legs[0] == Json::object());
  }
  SUBCASE("an empty dimension gives no combinations from the product") {
    auto legs = expand(parts_of(Json::parse(R"({"a": [1, 2], "b": []})"), {"a", "b"}));
    REQUIRE(legs.size() == 1);
    CHECK(legs[0] == Json::object());
    auto with_include =
        expand(parts_of(Json::parse(R"({"a": [1, 2], "b": [], "include": [{"a": 1, "c": 3}]})"), {"a", "b"}));
    CHECK(with_include == std::vector<Json>{Json::parse(R"({"a": 1, "c": 3})")});
  }
  SUBCASE("only includes become the legs") {
    auto legs = expand(parts_of(Json::parse(R"({"include": [{"color": "green"}, {"color": "pink", "n": 2}]})"), {}));
    std::vector<Json> want = {Json::parse(R"({"color": "green"})"), Json::parse(R"({"color": "pink", "n": 2})")};
    CHECK(legs == want);
  }
}

TEST_CASE("matrix: three dimensions vary with the first key slowest") {
  auto parts = parts_of(Json::parse(R"({"z": ["z1", "z2"], "a": [1, 2], "m": [true, false]})"), {"z", "a", "m"});
  auto legs = expand(parts);
  REQUIRE(legs.size() == 8);
  std::vector<std::string> names;
  for (const auto& leg : legs) names.push_back(wf::leg_display_name("t", leg, wf::matrix_key_order(parts)));
  CHECK(names == std::vector<std::string>{"t (z1, 1, true)", "t (z1, 1, false)", "t (z1, 2, true)",
                                          "t (z1, 2, false)", "t (z2, 1, true)", "t (z2, 1, false)",
                                          "t (z2, 2, true)", "t (z2, 2, false)"});
}

TEST_CASE("matrix: more legs than the limit is an error naming the count") {
  auto parts = parts_of(Json::parse(R"({"a": [1, 2, 3], "b": [1, 2, 3], "include": [{"a": 9}]})"), {"a", "b"});
  CHECK(expand(parts, 10).size() == 10);
  CHECK(expand_error(parts, 9) == "job matrix has 10 legs, more than the limit of 9; raise it with --max-legs");
  CHECK(expand_error(parts_of(Json::object(), {}), 0) ==
        "job matrix has 1 leg, more than the limit of 0; raise it with --max-legs");

  SUBCASE("a huge product is refused without being walked") {
    Json big = Json::object();
    Json values = Json::array();
    for (int i = 0; i < 100; ++i) values.push_back(i);
    for (const char* k : {"a", "b", "c", "d", "e"}) big[k] = values;  // 10^10 combinations
    big["include"] = Json::parse(R"([{"a": 1000}, {"a": 1}])");
    auto huge = parts_of(big, {});
    CHECK(expand_error(huge) ==
          "job matrix has 10000000001 legs, more than the limit of 256; raise it with --max-legs");
    // Excluding a value of the slowest key skips its whole block in one step.
    big["exclude"] = Json::parse(R"([{"a": 0}, {"e": 1}])");
    CHECK(expand_error(parts_of(big, {})) ==
          "job matrix has at least 257 legs, more than the limit of 256; raise it with --max-legs");
    // A product too big to walk whose excludes keep it under the limit.
    big["e"] = Json::array({0});
    big["exclude"] = Json::parse(R"([{"e": 0}])");
    CHECK(expand_error(parts_of(big, {})) ==
          "job matrix has too many combinations to expand (more than 1000000 before exclude)");
    for (const char* k : {"e", "f", "g", "h", "i", "j"}) big[k] = values;  // 10^20 overflows 64 bits
    big.erase("exclude");
    CHECK(expand_error(parts_of(big, {})) ==
          "job matrix has at least 18446744073709551615 legs, more than the limit of 256; raise it with --max-legs");
  }
}

TEST_CASE("matrix: split_matrix orders dimensions and gathers include/exclude") {
  Json matrix = Json::parse(R"({
    "region": ["us", "eu"], "shard": [1, 2], "zeta": [0], "alpha": [0],
    "include": [{"region": "eu", "inner": 1}], "exclude": [{"shard": 2}]})");
  auto r = wf::split_matrix(matrix, {"shard", "include", "region", "shard", "missing"},
                            Json::parse(R"([{"outer": 2}])"), Json::parse(R"([{"region": "us"}])"));
  REQUIRE(r.ok());
  std::vector<std::string> keys;
  for (const auto& dim : r->dims) keys.push_back(dim.first);
  // key_order first (duplicates and unknown keys skipped), then the rest sorted.
  CHECK(keys == std::vector<std::string>{"shard", "region", "alpha", "zeta"});
  CHECK(r->dims[1].second == Json::parse(R"(["us", "eu"])"));
  // Matrix-level entries first, then strategy-level ones.
  CHECK(r->include == Json::parse(R"([{"region": "eu", "inner": 1}, {"outer": 2}])"));
  CHECK(r->exclude == Json::parse(R"([{"shard": 2}, {"region": "us"}])"));

  auto legs = expand(*r);
  std::vector<Json> want = {
      Json::parse(R"({"shard": 1, "region": "eu", "alpha": 0, "zeta": 0, "inner": 1, "outer": 2})"),
  };
  CHECK(legs == want);
  CHECK(wf::leg_display_name("deploy", legs[0], wf::matrix_key_order(*r)) == "deploy (1, eu, 0, 0, 1, 2)");
}

TEST_CASE("matrix: split_matrix error texts") {
  auto error = [](const Json& matrix, const Json& inc = Json(), const Json& exc = Json()) {
    auto r = wf::split_matrix(matrix, {}, inc, exc);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  CHECK(error(Json::parse(R"({"x": "a"})")) == "matrix key 'x' must be a list of values");
  CHECK(error(Json::parse(R"({"x": {"a": 1}})")) == "matrix key 'x' must be a list of values");
  CHECK(error(Json("${{ x }}")) == "matrix must be a map, not a string");
  CHECK(error(Json::parse(R"({"include": {"a": 1}})")) == "matrix include must be a list of maps, not a map");
  CHECK(error(Json::parse(R"({"exclude": [{"a": 1}, 3]})")) == "matrix exclude entry 2 must be a map, not a number");
  CHECK(error(Json::object(), Json("a")) == "strategy include must be a list of maps, not a string");
  CHECK(error(Json::object(), Json(), Json::parse("[[1]]")) == "strategy exclude entry 1 must be a map, not a list");

  MatrixParts hand_made;
  hand_made.dims.emplace_back("k", Json(1));
  CHECK(expand_error(hand_made) == "matrix key 'k' must be a list of values");
}

TEST_CASE("matrix: display names") {
  std::vector<std::string> order = {"fruit", "animal"};
  CHECK(wf::leg_display_name("job", Json::object(), order) == "job");
  CHECK(wf::leg_display_name("job", Json::parse(R"({"animal": "cat", "fruit": "apple"})"), order) ==
        "job (apple, cat)");
  CHECK(wf::leg_display_name("job", Json::parse(R"({"n": 3, "f": 1.5, "b": false, "z": null})"), {"n"}) ==
        "job (3, false, 1.5, null)");
  CHECK(wf::leg_display_name("job", Json::parse(R"({"obj": {"b": [1, "x"], "a": 1}, "s": "two words"})"), {"obj", "s"}) ==
        "job ({\"a\":1,\"b\":[1,\"x\"]}, two words)");
}

TEST_CASE("matrix: env names") {
  CHECK(wf::matrix_env_name("region") == "WF_MATRIX_REGION");
  CHECK(wf::matrix_env_name("python-version") == "WF_MATRIX_PYTHON_VERSION");
  CHECK(wf::matrix_env_name("os.arch 2") == "WF_MATRIX_OS_ARCH_2");
  CHECK(wf::matrix_env_name("Ab9_z") == "WF_MATRIX_AB9_Z");
  CHECK(wf::matrix_env_name("d\xC3\xA9") == "WF_MATRIX_D__");
}
