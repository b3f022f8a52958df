#include "wf/params.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using wf::Json;
using wf::ParamSpec;
using wf::ParamType;

namespace {

ParamSpec spec(std::string name, ParamType type) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = type;
  return s;
}

ParamSpec with_default(ParamSpec s, Json d) {
  s.default_value = std::move(d);
  return s;
}

ParamSpec secret(ParamSpec s) {
  s.secret = true;
  return s;
}

ParamSpec required(ParamSpec s) {
  s.required = true;
  return s;
}

ParamSpec choice(std::string name, std::vector<Json> options) {
  auto s = spec(std::move(name), ParamType::Choice);
  s.options = std::move(options);
  return s;
}

struct Accept {
  Json in;
  Json out;
};

void check_accepts(const ParamSpec& s, const std::vector<Accept>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.in.dump());
    auto r = wf::coerce_param(s, c.in);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    CHECK(*r == c.out);
    CHECK(r->type() == c.out.type());
  }
}

void check_rejects(const ParamSpec& s, const std::vector<Json>& inputs) {
  for (const auto& in : inputs) {
    CAPTURE(in.dump());
    CHECK_FALSE(wf::coerce_param(s, in).ok());
  }
}

std::string coerce_error(const ParamSpec& s, const Json& in) {
  auto r = wf::coerce_param(s, in);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

// A stand-in for the expression engine: "${{ today }}" renders to a date, "${{ boom }}"
// fails, anything else renders to its text with the marker removed.
wf::Result<Json> fake_render(const ParamSpec&, const std::string& text) {
  if (text == "${{ today }}") return Json("2024-05-06");
  if (text == "${{ boom }}") return wf::Error("unknown name 'boom'");
  if (text == "${{ nothing }}") return Json(nullptr);
  if (text == "${{ number }}") return Json("42");
  return Json(text);
}

Json resolve_ok(const std::vector<ParamSpec>& specs, const Json& given) {
  auto r = wf::resolve_params(specs, given, fake_render);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
  return *r;
}

std::string resolve_error(const std::vector<ParamSpec>& specs, const Json& given) {
  auto r = wf::resolve_params(specs, given, fake_render);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("str") {
  const auto s = spec("source", ParamType::Str);
  check_accepts(s, {{"abc", "abc"}, {"", ""}, {"1.5", "1.5"}, {12, "12"}, {-3, "-3"},
                    {1.5, "1.5"}, {true, "true"}, {false, "false"}});
  check_rejects(s, {Json(nullptr), Json::array({1}), Json::object({{"a", 1}})});
  CHECK(coerce_error(s, Json::array({1, 2})) == "param 'source' (str): cannot convert [1,2] to str");
}

TEST_CASE("int") {
  const auto s = spec("batch-size", ParamType::Int);
  check_accepts(s, {{"12", 12}, {"-3", -3}, {"+4", 4}, {"0", 0}, {12, 12}, {12.0, 12},
                    {-7.0, -7}, {"9223372036854775807", INT64_MAX}, {Json(5u), 5}});
  check_rejects(s, {"1.5", "12abc", "", " 12", "12 ", "+", "-", "+-4", "--4", "0x10", "1e3",
                    "12.0", "9223372036854775808", 1.5, 1e300, true, "true", Json(nullptr),
                    Json::array(), Json(18446744073709551615ull)});
  CHECK(coerce_error(s, "1.5") == "param 'batch-size' (int): cannot convert \"1.5\" to int");
  CHECK(coerce_error(s, 1.5) == "param 'batch-size' (int): cannot convert 1.5 to int");
  CHECK(coerce_error(s, Json(nullptr)) == "param 'batch-size' (int): cannot convert null to int");
}

TEST_CASE("float") {
  const auto s = spec("ratio", ParamType::Float);
  check_accepts(s, {{"0.5", 0.5}, {"-2", -2.0}, {"+1.25", 1.25}, {"1e3", 1000.0}, {".5", 0.5},
                    {3, 3.0}, {0.25, 0.25}, {Json(7u), 7.0}});
  check_rejects(s, {"", "abc", "1.5x", "nan", "inf", "-inf", "1e999", "+-1", " 1", "0x1p3",
                    true, Json(nullptr), Json::object()});
  CHECK(coerce_error(s, "abc") == "param 'ratio' (float): cannot convert \"abc\" to float");
}

TEST_CASE("decimal rounds to its precision") {
  auto s = spec("amount", ParamType::Decimal);
  check_accepts(s, {{"1.23456", 1.23456}, {2, 2.0}});  // no precision: like float
  s.precision = 2;
  check_accepts(s, {{"1.23456", 1.23}, {"2.675", 2.68}, {2.675, 2.68}, {"-2.675", -2.68},
                    {"1.005", 1.01}, {"0.004", 0.0}, {"0.005", 0.01}, {"-0.004", 0.0},
                    {"9.999", 10.0}, {"99.995", 100.0}, {3, 3.0}, {"1e-7", 0.0},
                    {"1e20", 1e20}, {"12.5", 12.5}});
  s.precision = 0;
  check_accepts(s, {{"2.5", 3.0}, {"-2.5", -3.0}, {"0.49", 0.0}});
  check_rejects(s, {"", "1,5", "abc", false});
  CHECK(coerce_error(s, "1,5") == "param 'amount' (decimal): cannot convert \"1,5\" to decimal");
}

TEST_CASE("bool") {
  const auto s = spec("dry", ParamType::Bool);
  check_accepts(s, {{"true", true}, {"TRUE", true}, {"True", true}, {"yes", true},
                    {"YES", true}, {"1", true}, {"false", false}, {"False", false},
                    {"no", false}, {"No", false}, {"0", false}, {true, true}, {false, false},
                    {1, true}, {0, false}, {1.0, true}});
  check_rejects(s, {"", "y", "n", "on", "off", "2", "truee", " true", 2, -1, 0.5,
                    Json(nullptr), Json::array()});
  CHECK(coerce_error(s, "maybe") == "param 'dry' (bool): cannot convert \"maybe\" to bool");
}

TEST_CASE("date") {
  const auto s = spec("run-date", ParamType::Date);
  check_accepts(s, {{"2024-01-31", "2024-01-31"}, {"2024-02-29", "2024-02-29"}});
  check_rejects(s, {"2024-02-30", "2023-02-29", "2024-13-01", "2024-01-31T00:00:00",
                    "2024-01-31T00:00:00Z", "31/01/2024", "", 20240131, Json(nullptr)});
  CHECK(coerce_error(s, "2024-01-31T00:00") ==
        "param 'run-date' (date): cannot convert \"2024-01-31T00:00\" to date: expected "
        "YYYY-MM-DD, unexpected \"T00:00\" at position 11");
  CHECK(coerce_error(s, "2024-02-30") ==
        "param 'run-date' (date): cannot convert \"2024-02-30\" to date: day 30 does not exist "
        "in 2024-02");
  CHECK(coerce_error(s, 20240131) == "param 'run-date' (date): cannot convert 20240131 to date");
}

TEST_CASE("datetime") {
  const auto s = spec("started", ParamType::Datetime);
  check_accepts(s, {{"2024-01-01T09:00+02:00", "2024-01-01T07:00:00Z"},
                    {"2024-01-01T09:00", "2024-01-01T09:00:00Z"},
                    {"2024-01-01 09:00:30.5Z", "2024-01-01T09:00:30Z"},
                    {"2024-01-01", "2024-01-01T00:00:00Z"},
                    {"2024-02-29T23:59:59-0100", "2024-03-01T00:59:59Z"}});
  check_rejects(s, {"2024-01-01T24:00", "2024-02-30T10:00", "now", "", 0, Json(nullptr)});
  CHECK(coerce_error(s, "2024-01-01T24:00") ==
        "param 'started' (datetime): cannot convert \"2024-01-01T24:00\" to datetime: hour 24 "
        "is out of range (00-23)");
}

TEST_CASE("choice compares after coercion to the options' type") {
  const auto mode = choice("mode", {"full", "incremental"});
  check_accepts(mode, {{"full", "full"}, {"incremental", "incremental"}});
  check_rejects(mode, {"fast", "Full", "", Json(nullptr)});
  CHECK(coerce_error(mode, "fast") == "param 'mode' (choice): \"fast\" is not one of: full, incremental");

  const auto level = choice("level", {1, 2, 3});
  check_accepts(level, {{"2", 2}, {2, 2}, {2.0, 2}, {"+3", 3}});
  check_rejects(level, {"4", "2.5", "two", 2.5});
  CHECK(coerce_error(level, "4") == "param 'level' (choice): \"4\" is not one of: 1, 2, 3");

  const auto ratio = choice("ratio", {0.5, 1.5});
  check_accepts(ratio, {{"0.5", 0.5}, {"1.50", 1.5}});
  const auto flag = choice("flag", {true});
  check_accepts(flag, {{"yes", true}});
  const auto mixed = choice("mixed", {"auto", 10});
  check_accepts(mixed, {{"auto", "auto"}, {"10", 10}, {10, 10}});
}

TEST_CASE("choice with mixed option types takes the first option that matches") {
  const auto mixed = choice("mixed", {"10", 10});
  check_accepts(mixed, {{"10", "10"}, {10, "10"}});
  const auto empty = choice("none", {});
  CHECK(coerce_error(empty, "x") == "param 'none' (choice): has no options to choose from");
}

TEST_CASE("array and map take JSON values or JSON text") {
  const auto regions = spec("regions", ParamType::Array);
  check_accepts(regions, {{Json::array({"eu", "us"}), Json::array({"eu", "us"})},
                          {"[\"eu\", \"us\"]", Json::array({"eu", "us"})},
                          {"[]", Json::array()},
                          {"[1, {\"a\": 2}]", Json::array({1, {{"a", 2}}})}});
  check_rejects(regions, {"eu,us", "{}", "[1,", "", 1, Json::object(), Json(nullptr)});
  CHECK(coerce_error(regions, "eu,us") ==
        "param 'regions' (array): cannot convert \"eu,us\" to array: expected a JSON list, e.g. "
        "[\"a\", \"b\"]");

  const auto settings = spec("settings", ParamType::Map);
  check_accepts(settings, {{Json::object({{"a", 1}}), Json::object({{"a", 1}})},
                           {"{\"a\": [1, 2]}", Json::object({{"a", {1, 2}}})},
                           {"{}", Json::object()}});
  check_rejects(settings, {"[]", "a=1", "{", "", Json::array(), true});
  CHECK(coerce_error(settings, "a=1") ==
        "param 'settings' (map): cannot convert \"a=1\" to map: expected a JSON object, e.g. "
        "{\"key\": \"value\"}");
}

TEST_CASE("secret values never appear in coercion errors") {
  CHECK(coerce_error(secret(spec("token", ParamType::Int)), "hunter2") ==
        "param 'token' (int): cannot convert the given (secret) value to int");
  CHECK(coerce_error(secret(spec("when", ParamType::Date)), "2024-02-30") ==
        "param 'when' (date): cannot convert the given (secret) value to date");
  CHECK(coerce_error(secret(spec("list", ParamType::Array)), "s3cr3t") ==
        "param 'list' (array): cannot convert the given (secret) value to array");
  CHECK(coerce_error(secret(choice("mode", {"a", "b"})), "s3cr3t") ==
        "param 'mode' (choice): the given (secret) value is not one of: a, b");
}

TEST_CASE("resolve_params coerces given values and applies defaults") {
  auto amount = spec("amount", ParamType::Decimal);
  amount.precision = 2;
  const std::vector<ParamSpec> specs = {
      spec("source", ParamType::Str),
      with_default(spec("batch-size", ParamType::Int), 1000),
      with_default(spec("ratio", ParamType::Float), 0.5),
      amount,
      with_default(spec("dry", ParamType::Bool), false),
      with_default(spec("run-date", ParamType::Date), "${{ today }}"),
      choice("mode", {"full", "incremental"}),
      with_default(spec("regions", ParamType::Array), Json::array({"eu", "us"})),
      with_default(spec("settings", ParamType::Map), Json::object()),
      with_default(spec("count", ParamType::Int), "7"),
      with_default(spec("answer", ParamType::Int), "${{ number }}"),
      spec("started", ParamType::Datetime),
  };
  const Json out = resolve_ok(specs, {{"source", "db"}, {"batch-size", "12"}, {"amount", "3.14159"}});
  CHECK(out == Json{{"source", "db"},
                    {"batch-size", 12},
                    {"ratio", 0.5},
                    {"amount", 3.14},
                    {"dry", false},
                    {"run-date", "2024-05-06"},
                    {"mode", "full"},
                    {"regions", {"eu", "us"}},
                    {"settings", Json::object()},
                    {"count", 7},
                    {"answer", 42},
                    {"started", nullptr}});

  const Json given = resolve_ok(specs, {{"batch-size", 5}, {"dry", "yes"}, {"mode", "incremental"},
                                        {"run-date", "2024-01-02"}, {"regions", "[\"ap\"]"}});
  CHECK(given["batch-size"] == 5);
  CHECK(given["dry"] == true);
  CHECK(given["mode"] == "incremental");
  CHECK(given["run-date"] == "2024-01-02");
  CHECK(given["regions"] == Json::array({"ap"}));
  CHECK(given["source"].is_null());
}

TEST_CASE("resolve_params treats null and missing given alike") {
  const std::vector<ParamSpec> specs = {with_default(spec("n", ParamType::Int), 3)};
  CHECK(resolve_ok(specs, Json(nullptr)) == Json{{"n", 3}});
  CHECK(resolve_ok(specs, Json::object()) == Json{{"n", 3}});
  CHECK(resolve_ok(specs, {{"n", nullptr}}) == Json{{"n", 3}});
  CHECK(resolve_ok({}, Json::object()) == Json::object());
  CHECK(resolve_error(specs, Json::array()) == "params must be a map of name to value, got array");
}

TEST_CASE("resolve_params: defaults that do not render or coerce") {
  CHECK(resolve_error({with_default(spec("n", ParamType::Int), "abc")}, Json::object()) ==
        "param 'n' (int): cannot convert default \"abc\" to int");
  CHECK(resolve_error({with_default(spec("n", ParamType::Int), 1.5)}, Json::object()) ==
        "param 'n' (int): cannot convert default 1.5 to int");
  CHECK(resolve_error({with_default(spec("d", ParamType::Date), "${{ boom }}")}, Json::object()) ==
        "param 'd' (date): cannot render default \"${{ boom }}\": unknown name 'boom'");
  CHECK(resolve_error({with_default(choice("m", {"a", "b"}), "c")}, Json::object()) ==
        "param 'm' (choice): default \"c\" is not one of: a, b");
  CHECK(resolve_error({secret(with_default(spec("t", ParamType::Int), "abc"))}, Json::object()) ==
        "param 't' (int): cannot convert the default (secret) value to int");
  // A rendered value goes through coercion like any other.
  CHECK(resolve_error({with_default(spec("d", ParamType::Date), "${{ x }}")}, Json::object()) ==
        "param 'd' (date): cannot convert default \"${{ x }}\" to date: expected YYYY-MM-DD");
  // A default is not rendered when the param is given.
  CHECK(resolve_ok({with_default(spec("d", ParamType::Date), "${{ boom }}")},
                   {{"d", "2024-01-01"}}) == Json{{"d", "2024-01-01"}});
  // A template that renders to null leaves the param without a value.
  CHECK(resolve_ok({with_default(spec("d", ParamType::Date), "${{ nothing }}")}, Json::object()) ==
        Json{{"d", nullptr}});
}

TEST_CASE("resolve_params: required") {
  const std::vector<ParamSpec> specs = {required(secret(spec("token", ParamType::Str)))};
  CHECK(resolve_error(specs, Json::object()) == "param 'token' (str) is required but was not given");
  CHECK(resolve_error(specs, {{"token", nullptr}}) ==
        "param 'token' (str) is required but was not given");
  CHECK(resolve_ok(specs, {{"token", "abc"}}) == Json{{"token", "abc"}});
  CHECK(resolve_ok({required(with_default(spec("n", ParamType::Int), 1))}, Json::object()) ==
        Json{{"n", 1}});
  CHECK(resolve_error({required(with_default(spec("d", ParamType::Date), "${{ nothing }}"))},
                      Json::object()) == "param 'd' (date) is required but was not given");
  // A required choice must be chosen: the first option is not taken for it.
  CHECK(resolve_error({required(choice("mode", {"a", "b"}))}, Json::object()) ==
        "param 'mode' (choice) is required but was not given");
}

TEST_CASE("resolve_params: undeclared names, with did-you-mean") {
  const std::vector<ParamSpec> specs = {spec("source", ParamType::Str), spec("batch-size", ParamType::Int)};
  CHECK(resolve_error(specs, {{"sorce", "x"}}) ==
        "unknown param 'sorce'; did you mean 'source'? declared params: source (str), batch-size (int)");
  CHECK(resolve_error(specs, {{"zzz", "x"}}) ==
        "unknown param 'zzz'; declared params: source (str), batch-size (int)");
  CHECK(resolve_error({}, {{"x", 1}}) == "unknown param 'x'; the workflow declares no params");
  // Undeclared names are reported before bad values.
  CHECK(resolve_error(specs, {{"batch-size", "x"}, {"sorce", "x"}}).starts_with("unknown param 'sorce'"));
  CHECK(resolve_error(specs, {{"batch-size", "1.5"}}) ==
        "param 'batch-size' (int): cannot convert \"1.5\" to int");
  CHECK(resolve_error({secret(spec("token", ParamType::Int))}, {{"token", "hunter2"}}) ==
        "param 'token' (int): cannot convert the given (secret) value to int");
}

TEST_CASE("parse_param_assignment") {
  auto r = wf::parse_param_assignment("a=b=c");
  REQUIRE(r.ok());
  CHECK(r->first == "a");
  CHECK(r->second == "b=c");
  auto empty_value = wf::parse_param_assignment("name=");
  REQUIRE(empty_value.ok());
  CHECK(empty_value->first == "name");
  CHECK(empty_value->second == "");
  CHECK(wf::parse_param_assignment("noequals").error().message ==
        "-p expects name=value, got 'noequals'");
  CHECK(wf::parse_param_assignment("=x").error().message ==
        "-p expects name=value, but the name before '=' is empty");
}

TEST_CASE("secret_values, mask_params, mask_text and mask_json") {
  const std::vector<ParamSpec> specs = {
      secret(spec("token", ParamType::Str)), secret(spec("pin", ParamType::Int)),
      secret(spec("empty", ParamType::Str)), secret(spec("unset", ParamType::Str)),
      secret(spec("creds", ParamType::Map)), spec("user", ParamType::Str)};
  const Json params = {{"token", "s3cr3t"}, {"pin", 1234}, {"empty", ""}, {"unset", nullptr},
                       {"creds", {{"key", "k-9"}}}, {"user", "bob"}};

  const auto secrets = wf::secret_values(specs, params);
  CHECK(secrets == std::vector<std::string>{"1234", "k-9", "s3cr3t", "{\"key\":\"k-9\"}"});

  CHECK(wf::mask_params(specs, params) == Json{{"token", "***"}, {"pin", "***"}, {"empty", "***"},
                                               {"unset", nullptr}, {"creds", "***"}, {"user", "bob"}});

  CHECK(wf::mask_text("token=s3cr3t pin=1234 user=bob", secrets) == "token=*** pin=*** user=bob");
  CHECK(wf::mask_text("xs3cr3ts3cr3tx", secrets) == "x******x");
  CHECK(wf::mask_text("nothing here", secrets) == "nothing here");
  CHECK(wf::mask_text("", secrets) == "");
  CHECK(wf::mask_text("abc", {}) == "abc");
  CHECK(wf::mask_text("abc", {""}) == "abc");
  // Longest first: "abcdef" is masked whole, not as "abc" + "def".
  CHECK(wf::mask_text("-abcdef-abc-", {"abc", "abcdef"}) == "-***-***-");
  // A secret that looks like the mask does not re-mask what was written.
  CHECK(wf::mask_text("a*b", {"*", "a"}) == "******b");
  CHECK(wf::mask_text("**", {"*"}) == "******");

  const Json doc = {{"out", "the token is s3cr3t"},
                    {"s3cr3t", 1234},
                    {"list", {"1234", "ok", {{"deep", "k-9!"}}}},
                    {"n", 1234}};
  CHECK(wf::mask_json(doc, secrets) == Json{{"out", "the token is ***"},
                                            {"s3cr3t", 1234},
                                            {"list", {"***", "ok", {{"deep", "***!"}}}},
                                            {"n", 1234}});
  CHECK(wf::mask_json("s3cr3t", secrets) == "***");
}

TEST_CASE("closest_match") {
  const std::vector<std::string> names = {"source", "batch-size", "mode"};
  struct Case {
    const char* word;
    const char* out;
  };
  const Case cases[] = {
      {"sorce", "source"},       {"source", "source"},  {"sourcex", "source"},
      {"batch_size", "batch-size"}, {"batchsize", "batch-size"}, {"mod", "mode"},
      {"mdoe", "mode"},  // one transposition
      {"mxyz", ""},      // three edits, limit is 1 for a 4-letter word
      {"xyz", ""},  {"", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.word);
    CHECK(wf::closest_match(c.word, names) == c.out);
  }
  CHECK(wf::closest_match("cat", {"bat", "cap"}) == "bat");  // ties go to the first
  CHECK(wf::closest_match("cat", {}) == "");
}
