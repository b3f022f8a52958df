#include "wf/expr.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using wf::EvalContext;
using wf::Expression;
using wf::Json;
using wf::Template;

namespace {

const Json& test_vars() {
  static const Json vars = Json::parse(R"({
    "params": {"name": "foo", "n": 5, "f": 2.5, "zero": 0, "empty": "", "list": [1, 2, 3],
               "names": ["a", "b"], "m": {"a": 1, "b": "x"}, "nul": null, "num_str": "42",
               "date": "2024-01-05", "dt": "2024-01-05T09:30:00Z", "quote": "it's",
               "mixed": "Hello World", "padded": "  hi  ", "big": 9007199254740993,
               "neg": -3, "flag": true, "off": false, "json": "{\"a\":[1,2]}"},
    "needs": {"my-job": {"result": "failure", "outputs": {"x": "1"}},
              "build": {"result": "success", "outputs": {"x": "2"}}},
    "matrix": {"region": "us-east", "shard": 1},
    "item": 5,
    "stages": {"s1": {"outputs": {"rows": [{"name": "a", "tags": ["x", "y"]},
                                             {"name": "b", "tags": ["z"]}, {"other": 1}]}}},
    "fruits": [{"name": "apple", "qty": 1}, {"name": "pear"}],
    "deep": {"a": {"b": {"c": 1}}}
  })");
  return vars;
}

EvalContext context(bool any_failed = false, bool cancelled = false) {
  return EvalContext{&test_vars(), any_failed, cancelled};
}

// Parses and evaluates; a failure comes back as the string "ERROR: <message>".
Json eval(const std::string& text, const EvalContext& ctx = context(), bool python = false) {
  auto e = Expression::parse(text, python);
  if (!e.ok()) return "PARSE ERROR: " + e.error().message;
  auto v = e->evaluate(ctx);
  if (!v.ok()) return "ERROR: " + v.error().message;
  return *v;
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

Json render(const std::string& text, const EvalContext& ctx = context()) {
  auto t = Template::parse(text);
  if (!t.ok()) return "PARSE ERROR: " + t.error().message;
  auto v = t->render(ctx);
  if (!v.ok()) return "ERROR: " + v.error().message;
  return *v;
}

struct ValueCase {
  const char* expr;
  const char* expected;  // JSON
};

void check_values(const std::vector<ValueCase>& cases) {
  for (const auto& c : cases) {
    CAPTURE(std::string(c.expr));
    CHECK(eval(c.expr) == Json::parse(c.expected));
  }
}

struct ErrorCase {
  const char* expr;
  const char* message;
};

void check_eval_errors(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) {
    CAPTURE(std::string(c.expr));
    auto e = Expression::parse(c.expr);
    REQUIRE(e.ok());
    auto v = e->evaluate(context());
    REQUIRE_FALSE(v.ok());
    CHECK(v.error().message == c.message);
    CHECK(v.error().name == "TemplateError");
  }
}

}  // namespace

TEST_CASE("expr: literals") {
  check_values({
      {"null", "null"},
      {"true", "true"},
      {"false", "false"},
      {"0", "0"},
      {"42", "42"},
      {"-7", "-7"},
      {"2.5", "2.5"},
      {"-0.5", "-0.5"},
      {"1e3", "1000.0"},
      {"1.5E-1", "0.15"},
      {"99999999999999999999", "1e20"},
      {"'single'", "\"single\""},
      {"'it''s'", "\"it's\""},
      {"''", "\"\""},
      {R"("double")", "\"double\""},
      {R"("a\"b\\c\n\t")", R"("a\"b\\c\n\t")"},
      {R"("\u00e9\u0041")", "\"\u00e9A\""},
      {R"("\ud83d\ude00")", "\"\U0001F600\""},
      {R"("\q")", R"("\\q")"},
      {R"('no \n escape')", R"("no \\n escape")"},
      {"'${{ inside }}'", "\"${{ inside }}\""},
  });
}

TEST_CASE("expr: python literals only when asked") {
  CHECK(eval("True", context(), true) == true);
  CHECK(eval("False", context(), true) == false);
  CHECK(eval("None", context(), true) == Json());
  CHECK(eval("True") == "ERROR: True: name 'True' is not defined (in 'True')");
}

TEST_CASE("expr: property access") {
  check_values({
      {"params.name", "\"foo\""},
      {"params['name']", "\"foo\""},
      {R"(params["name"])", "\"foo\""},
      {"params.list[0]", "1"},
      {"params.list[2]", "3"},
      {"params.list[1.0]", "2"},
      {"params['list'][1]", "2"},
      {"params.m", R"({"a":1,"b":"x"})"},
      {"needs.my-job.result", "\"failure\""},
      {"needs['my-job'].outputs.x", "\"1\""},
      {"deep.a.b.c", "1"},
      {"params[params.m.b == 'x' && 'name' || 'n']", "\"foo\""},
      {"params.nul", "null"},
      {"matrix.shard", "1"},
      {"item", "5"},
      {"(params).name", "\"foo\""},
  });
  // Words after a dot are names, even `null`.
  CHECK(eval("params.m.null") ==
        "ERROR: params.m.null: key 'null' not found in 'params.m' (in 'params.m.null')");
}

TEST_CASE("expr: ?. turns a missing or null base into null") {
  check_values({
      {"params?.nope", "null"},
      {"nope?.x", "null"},
      {"params.nul?.x", "null"},
      {"params.nope?.x", "null"},
      {"params?.name", "\"foo\""},
      {"params.list?.[7]", "null"},
      {"params.list?.[1]", "2"},
      {"nope?.x?.y", "null"},
      {"params?.m?.a", "1"},
      {"nope?.*", "null"},
  });
  // Only the step right before `?.` is forgiven.
  CHECK(eval("nope.x?.y") == "ERROR: nope: name 'nope' is not defined (in 'nope.x?.y')");
  CHECK(eval("params?.nope.x") ==
        "ERROR: params?.nope.x: 'params?.nope' is null, not a map (in 'params?.nope.x')");
  CHECK(eval("params.name?.x") ==
        "ERROR: params.name?.x: 'params.name' is a string, not a map (in 'params.name?.x')");
}

TEST_CASE("expr: .* collects over lists and maps") {
  check_values({
      {"fruits.*.name", R"(["apple","pear"])"},
      {"fruits.*.qty", "[1]"},
      {"fruits[*].name", R"(["apple","pear"])"},
      {"params.m.*", R"([1,"x"])"},
      {"needs.*.result", R"(["success","failure"])"},
      {"needs.*.outputs.x", R"(["2","1"])"},
      {"stages.s1.outputs.rows.*.tags", R"([["x","y"],["z"]])"},
      {"stages.s1.outputs.rows.*.tags.*", R"(["x","y","z"])"},
      {"stages.s1.outputs.rows.*.tags[0]", R"(["x","z"])"},
      {"params.list.*", "[1,2,3]"},
      {"params.list.*.x", "[]"},
      {"contains(fruits.*.name, 'pear')", "true"},
      {"fruits.*.name | join('+')", "\"apple+pear\""},
  });
  CHECK(eval("params.n.*") ==
        "ERROR: params.n.*: 'params.n' is a number, not a list or map (in 'params.n.*')");
}

TEST_CASE("expr: missing references are errors naming the path") {
  check_eval_errors({
      {"params.x", "params.x: key 'x' not found in 'params' (in 'params.x')"},
      {"  params.x == 1 ", "params.x: key 'x' not found in 'params' (in 'params.x == 1')"},
      {"nope", "nope: name 'nope' is not defined (in 'nope')"},
      {"nope.a.b", "nope: name 'nope' is not defined (in 'nope.a.b')"},
      {"needs.other.result", "needs.other: key 'other' not found in 'needs' (in 'needs.other.result')"},
      {"deep.a.x.c", "deep.a.x: key 'x' not found in 'deep.a' (in 'deep.a.x.c')"},
      {"params['x y']", "params['x y']: key 'x y' not found in 'params' (in 'params['x y']')"},
      {"params.list[3]",
       "params.list[3]: index 3 is out of range, 'params.list' has 3 items (in 'params.list[3]')"},
      {"params.list[-1]",
       "params.list[-1]: index -1 is out of range, 'params.list' has 3 items (in 'params.list[-1]')"},
      {"params.list['a']", "params.list['a']: 'params.list' is a list, not a map (in 'params.list['a']')"},
      {"params.nul.x", "params.nul.x: 'params.nul' is null, not a map (in 'params.nul.x')"},
      {"params.n[0]", "params.n[0]: 'params.n' is a number, not a list (in 'params.n[0]')"},
      {"params[true]",
       "params[true]: an index must be a string or an integer, not a boolean (in 'params[true]')"},
      {"params.list[0.5]",
       "params.list[0.5]: an index must be a string or an integer, not a number (in 'params.list[0.5]')"},
      {"params.list[nope]", "nope: name 'nope' is not defined (in 'params.list[nope]')"},
  });
}

TEST_CASE("expr: a numeric index reads a map key") {
  Json vars = {{"m", {{"0", "zero"}}}};
  EvalContext ctx{&vars};
  CHECK(eval("m[0]", ctx) == "zero");
}

TEST_CASE("expr: equality") {
  check_values({
      {"1 == 1", "true"},
      {"1 == 1.0", "true"},
      {"1 != 1.0", "false"},
      {"'42' == 42", "true"},
      {"42 == '42'", "true"},
      {"params.num_str == 42", "true"},
      {"' 42 ' == 42", "true"},
      {"'42.0' == 42", "true"},
      {"'4e1' == 40", "true"},
      {"'abc' == 0", "false"},
      {"'' == 0", "false"},
      {"'42' == '42.0'", "false"},
      {"'abc' == 'abc'", "true"},
      {"'abc' == 'ABC'", "false"},
      {"'abc' != 'ABC'", "true"},
      {"null == null", "true"},
      {"null == false", "false"},
      {"null == 0", "false"},
      {"true == 1", "false"},
      {"true == true", "true"},
      {"params.list == fromJson('[1,2,3]')", "true"},
      {"params.list == fromJson('[1.0,2,3]')", "true"},
      {"params.m == fromJson('{\"b\":\"x\",\"a\":1}')", "true"},
      {"params.m != params.list", "true"},
      {"params.big == 9007199254740992", "false"},
      {"params.big == 9007199254740993", "true"},
      {"needs.my-job.result == 'failure'", "true"},
  });
}

TEST_CASE("expr: ordering") {
  check_values({
      {"1 < 2", "true"},
      {"2 < 1", "false"},
      {"2 <= 2", "true"},
      {"3 > 2.5", "true"},
      {"2 >= 2.0", "true"},
      {"'10' > 9", "true"},
      {"9 < '10'", "true"},
      {"'10' < '9'", "true"},
      {"'a' < 'b'", "true"},
      {"'B' < 'a'", "true"},
      {"'abc' >= 'abc'", "true"},
      {"'x' < 1", "false"},
      {"'x' >= 1", "false"},
      {"null < 1", "false"},
      {"null >= 0", "false"},
      {"true > false", "false"},
      {"params.list < params.list", "false"},
      {"item > 4", "true"},
      {"-1 < 0", "true"},
  });
}

TEST_CASE("expr: in and not in") {
  check_values({
      {"2 in params.list", "true"},
      {"'2' in params.list", "true"},
      {"7 in params.list", "false"},
      {"'oo' in 'foo'", "true"},
      {"'OO' in 'foo'", "false"},
      {"1 in 'a1'", "true"},
      {"'a' in params.m", "true"},
      {"'z' in params.m", "false"},
      {"'a' in null", "false"},
      {"'a' not in params.names", "false"},
      {"'c' not in params.names", "true"},
      {"'x' in params.m.*", "true"},
      {"'o' in params.name == true", "true"},
  });
  check_eval_errors({
      {"1 in 5", "'in' needs a list, string or map on its right, got number (in '1 in 5')"},
      {"params.list in 'abc'", "'in' cannot look for a list in a string (in 'params.list in 'abc'')"},
  });
}

TEST_CASE("expr: logical operators return an operand") {
  check_values({
      {"true && 'a' || 'b'", "\"a\""},
      {"false && 'a' || 'b'", "\"b\""},
      {"params.n > 3 && 'big' || 'small'", "\"big\""},
      {"'' || 'fallback'", "\"fallback\""},
      {"0 || null", "null"},
      {"1 && 2", "2"},
      {"0 && nope", "0"},
      {"1 || nope", "1"},
      {"true and false", "false"},
      {"false or 'x'", "\"x\""},
      {"!true", "false"},
      {"!0", "true"},
      {"!!'a'", "true"},
      {"not params.empty", "true"},
      {"not not 1", "true"},
      {"!params.list", "false"},
  });
}

TEST_CASE("expr: precedence") {
  check_values({
      {"1 < 2 == true", "true"},           // comparison binds tighter than equality
      {"!1 == false", "true"},             // unary binds tightest
      {"true || false && false", "true"},  // && tighter than ||
      {"(true || false) && false", "false"},
      {"1 == 1 && 2 == 2", "true"},
      {"'a' || 'b' | upper", "\"A\""},  // filters are loosest
      {"('a' || 'b') | upper", "\"A\""},
      {"'abc' | upper | lower", "\"abc\""},
      {"not 1 in params.list", "false"},  // (not 1) in list
      {"false == 0 || 'x'", "\"x\""},
  });
}

TEST_CASE("expr: truthy") {
  CHECK_FALSE(wf::truthy(Json(false)));
  CHECK_FALSE(wf::truthy(Json(0)));
  CHECK_FALSE(wf::truthy(Json(0u)));
  CHECK_FALSE(wf::truthy(Json(0.0)));
  CHECK_FALSE(wf::truthy(Json(-0.0)));
  CHECK_FALSE(wf::truthy(Json(std::numeric_limits<double>::quiet_NaN())));
  CHECK_FALSE(wf::truthy(Json("")));
  CHECK_FALSE(wf::truthy(Json()));
  CHECK(wf::truthy(Json(true)));
  CHECK(wf::truthy(Json(-1)));
  CHECK(wf::truthy(Json(0.1)));
  CHECK(wf::truthy(Json("false")));
  CHECK(wf::truthy(Json("0")));
  CHECK(wf::truthy(Json::array()));
  CHECK(wf::truthy(Json::object()));
}

TEST_CASE("expr: to_text") {
  CHECK(wf::to_text(Json()) == "");
  CHECK(wf::to_text(Json(true)) == "true");
  CHECK(wf::to_text(Json(false)) == "false");
  CHECK(wf::to_text(Json(3)) == "3");
  CHECK(wf::to_text(Json(-3)) == "-3");
  CHECK(wf::to_text(Json(18446744073709551615u)) == "18446744073709551615");
  CHECK(wf::to_text(Json(2.5)) == "2.5");
  CHECK(wf::to_text(Json(3.0)) == "3.0");
  CHECK(wf::to_text(Json(0.1)) == "0.1");
  CHECK(wf::to_text(Json(1e100)) == "1e+100");
  CHECK(wf::to_text(Json("raw \"text\"")) == "raw \"text\"");
  CHECK(wf::to_text(Json::parse(R"([1, "a", {"k": null}])")) == R"([1,"a",{"k":null}])");
  CHECK(wf::to_text(Json::object()) == "{}");
  CHECK(wf::to_text(Json(std::string("\xff"))) == "\xff");
  CHECK(wf::to_text(Json::array({std::string("\xff")})) == "[\"\xEF\xBF\xBD\"]");
}

TEST_CASE("expr: status functions") {
  struct Case {
    bool any_failed, cancelled;
    bool success, failure, cancelled_fn;
  };
  for (auto c : {Case{false, false, true, false, false}, Case{true, false, false, true, false},
                 Case{false, true, false, false, true}, Case{true, true, false, true, true}}) {
    CAPTURE(c.any_failed);
    CAPTURE(c.cancelled);
    auto ctx = context(c.any_failed, c.cancelled);
    CHECK(eval("success()", ctx) == c.success);
    CHECK(eval("failure()", ctx) == c.failure);
    CHECK(eval("cancelled()", ctx) == c.cancelled_fn);
    CHECK(eval("always()", ctx) == true);
  }
  CHECK(eval("Success()") == true);  // function names are case-insensitive, as in GitHub
}

TEST_CASE("expr: functions") {
  check_values({
      {"contains('Hello World', 'world')", "true"},
      {"contains('Hello', 'xyz')", "false"},
      {"contains(params.list, 2)", "true"},
      {"contains(params.list, '2')", "true"},
      {"contains(params.names, 'A')", "false"},
      {"contains(null, 'a')", "false"},
      {"contains(123, 2)", "true"},
      {"startsWith('Hello', 'he')", "true"},
      {"startsWith('Hello', 'lo')", "false"},
      {"startsWith('He', 'Hello')", "false"},
      {"endsWith('Hello', 'LO')", "true"},
      {"endsWith('Hello', 'he')", "false"},
      {"endsWith(12345, 45)", "true"},
      {"format('{0} and {1}', 'a', 'b')", "\"a and b\""},
      {"format('{1}{0}{1}', 1, 2)", "\"212\""},
      {"format('{{0}} is {0}', params.name)", "\"{0} is foo\""},
      {"format('}}{{')", "\"}{\""},
      {"format('{0}|{1}|{2}', null, true, params.list)", "\"|true|[1,2,3]\""},
      {"format('plain')", "\"plain\""},
      {"join(params.list)", "\"1,2,3\""},
      {"join(params.names, ' - ')", "\"a - b\""},
      {"join('solo', '-')", "\"solo\""},
      {"join(fromJson('[]'))", "\"\""},
      {"toJson(params.m)", R"("{\"a\":1,\"b\":\"x\"}")"},
      {"toJSON('a')", R"("\"a\"")"},
      {"toJson(null)", "\"null\""},
      {"fromJson('[1, {\"a\": true}]')", R"([1,{"a":true}])"},
      {"fromJSON('3')", "3"},
      {"fromJson(params.json).a[1]", "2"},
      {"fromJson(params.list)", "[1,2,3]"},
      {"fromJson(5)", "5"},
      {"fromJson(needs.build.outputs.x) == 2", "true"},
  });
  check_eval_errors({
      {"format('{2}', 1)", "format(): placeholder {2} has no argument (1 given) (in 'format('{2}', 1)')"},
      {"format('{x}', 1)", "format(): invalid placeholder at position 0 in '{x}' (in 'format('{x}', 1)')"},
      {"format('a {0', 1)", "format(): invalid placeholder at position 2 in 'a {0' (in 'format('a {0', 1)')"},
      {"format('a } b')", "format(): unmatched '}' at position 2 in 'a } b' (in 'format('a } b')')"},
      {"contains(params.m, 'a')",
       "contains(): the first argument must be a string or a list, got map (in 'contains(params.m, 'a')')"},
      {"contains('abc', params.list)",
       "contains(): cannot look for a list in a string (in 'contains('abc', params.list)')"},
      {"startsWith(params.list, 'a')",
       "startsWith(): expected text, got list (in 'startsWith(params.list, 'a')')"},
      {"join(params.m)", "join(): expected a list, got map (in 'join(params.m)')"},
      {"fromJson('{bad')",
       "fromJson(): invalid JSON: parse error at line 1, column 2: syntax error while parsing object key - "
       "invalid "
       "literal; last read: '{b'; expected string literal (in 'fromJson('{bad')')"},
  });
}

TEST_CASE("expr: filters on strings") {
  check_values({
      {"params.name | upper", "\"FOO\""},
      {"'MiXeD é' | lower", "\"mixed é\""},
      {"'hello world-foo bar_baz' | title", "\"Hello World-Foo Bar_Baz\""},
      {"'HELLO wORLD' | title", "\"Hello World\""},
      {"params.padded | trim", "\"hi\""},
      {"'\t x \n' | trim", "\"x\""},
      {"params.name | rstr", "\"'foo'\""},
      {"params.quote | rstr", R"("\"it's\"")"},
      {"5 | rstr", "\"'5'\""},
      {"'a,b,,c' | split(',')", R"(["a","b","","c"])"},
      {"' a  b c ' | split", R"(["a","b","c"])"},
      {"'a--b' | split('--')", R"(["a","b"])"},
      {"'' | split(',')", R"([""])"},
      {"'a-b-c' | replace('-', '+')", "\"a+b+c\""},
      {"'aaa' | replace('a', 'bb')", "\"bbbbbb\""},
      {"'ab' | replace('', '-')", "\"-a-b-\""},
      {"'v1' | replace(1, 2)", "\"v2\""},
      {"params.date | fmt('%d/%m/%Y')", "\"05/01/2024\""},
      {"params.dt | fmt('%Y%m%d-%H%M')", "\"20240105-0930\""},
      {"params.dt | fmt", "\"2024-01-05 09:30:00\""},
      {"'plain' | shell_quote", "\"plain\""},
      {"'a/b-c.d_e:f=1' | shell_quote", "\"a/b-c.d_e:f=1\""},
      {"params.quote | shell_quote", R"("'it'\"'\"'s'")"},
      {"'two words' | shell_quote", "\"'two words'\""},
      {"'$(rm -rf /)' | shell_quote", "\"'$(rm -rf /)'\""},
      {"'' | shell_quote", "\"''\""},
      {"5 | shell_quote", "\"5\""},
  });
}

TEST_CASE("expr: filters on numbers and conversions") {
  check_values({
      {"params.neg | abs", "3"},
      {"-2.5 | abs", "2.5"},
      {"4 | abs", "4"},
      {"-9223372036854775807 | abs", "9223372036854775807"},
      {"5 | str", "\"5\""},
      {"2.5 | str", "\"2.5\""},
      {"null | str", "\"\""},
      {"true | str", "\"true\""},
      {"params.list | str", "\"[1,2,3]\""},
      {"'42' | int", "42"},
      {"' 7 ' | int", "7"},
      {"'3.9' | int", "3"},
      {"-3.9 | int", "-3"},
      {"true | int", "1"},
      {"7 | int", "7"},
      {"'2.5' | float", "2.5"},
      {"3 | float", "3.0"},
      {"false | float", "0.0"},
      {"(params.num_str | int) == 42", "true"},
  });
  CHECK(eval("params.num_str | int + 0 == 42") ==
        "PARSE ERROR: unexpected character '+' at column 22 in 'params.num_str | int + 0 == 42'");
  check_eval_errors({
      {"'abc' | int", "filter 'int': cannot convert 'abc' to a number (in ''abc' | int')"},
      {"params.list | float",
       "filter 'float': expected a number or a numeric string, got list (in 'params.list | float')"},
      {"null | int", "filter 'int': expected a number or a numeric string, got null (in 'null | int')"},
      {"1e300 | int", "filter 'int': 1e+300 is out of the integer range (in '1e300 | int')"},
      {"'x' | abs", "filter 'abs': expected a number, got string (in ''x' | abs')"},
  });
}

TEST_CASE("expr: filters on collections") {
  check_values({
      {"params.m | keys", R"(["a","b"])"},
      {"params.m | values", R"([1,"x"])"},
      {"params.m | list", R"(["a","b"])"},
      {"params.list | list", "[1,2,3]"},
      {"'hé!' | list", R"(["h","é","!"])"},
      {"params.list | first", "1"},
      {"params.list | last", "3"},
      {"fromJson('[]') | first", "null"},
      {"'abc' | first", "\"a\""},
      {"'abc' | last", "\"c\""},
      {"params.list | length", "3"},
      {"params.m | length", "2"},
      {"'héllo' | length", "5"},
      {"null | length", "0"},
      {"params.m | getitem('b')", "\"x\""},
      {"params.m | getitem('z')", "null"},
      {"params.m | getitem('z', 'dflt')", "\"dflt\""},
      {"params.list | getindex(1)", "2"},
      {"params.list | getindex(-1)", "3"},
      {"params.list | join", "\"1,2,3\""},
      {"params.names | join('')", "\"ab\""},
      {"params.m | to_json", R"("{\"a\":1,\"b\":\"x\"}")"},
      {"params.json | from_json", R"({"a":[1,2]})"},
      {"params.list | from_json", "[1,2,3]"},
      {"params.list | to_json | from_json", "[1,2,3]"},
  });
  check_eval_errors({
      {"params.list | keys", "filter 'keys': expected a map, got list (in 'params.list | keys')"},
      {"params.list | values", "filter 'values': expected a map, got list (in 'params.list | values')"},
      {"5 | list", "filter 'list': expected a list, map or string, got number (in '5 | list')"},
      {"5 | first", "filter 'first': expected a list or a string, got number (in '5 | first')"},
      {"true | length", "filter 'length': expected a list, map or string, got boolean (in 'true | length')"},
      {"params.list | getitem('a')",
       "filter 'getitem': expected a map, got list (in 'params.list | getitem('a')')"},
      {"params.m | getitem(params.list)",
       "filter 'getitem': the key must be a string or an integer, got list (in 'params.m | "
       "getitem(params.list)')"},
      {"params.list | getindex(3)",
       "filter 'getindex': index 3 is out of range for a list of 3 items (in 'params.list | getindex(3)')"},
      {"params.list | getindex('a')",
       "filter 'getindex': the index must be an integer, got string (in 'params.list | getindex('a')')"},
      {"params.m | getindex(0)", "filter 'getindex': expected a list, got map (in 'params.m | getindex(0)')"},
      {"'abc' | join(',')", "filter 'join': expected a list, got string (in ''abc' | join(',')')"},
      {"params.list | join(1)",
       "filter 'join': the separator must be a string, got number (in 'params.list | join(1)')"},
      {"'abc' | split('')", "filter 'split': empty separator (in ''abc' | split('')')"},
      {"params.list | split(',')",
       "filter 'split': expected a string, got list (in 'params.list | split(',')')"},
      {"5 | upper", "filter 'upper': expected a string, got number (in '5 | upper')"},
      {"null | lower", "filter 'lower': expected a string, got null (in 'null | lower')"},
      {"params.list | replace('a', 'b')",
       "filter 'replace': expected a string, got list (in 'params.list | replace('a', 'b')')"},
      {"'{' | from_json",
       "filter 'from_json': invalid JSON: parse error at line 1, column 2: syntax error while parsing object "
       "key - "
       "unexpected end of input; expected string literal (in ''{' | from_json')"},
      {"params.n | fmt",
       "filter 'fmt': expected a date or datetime string, got number (in 'params.n | fmt')"},
  });
  // The fmt error carries the date parser's own message.
  auto bad_date = eval("'2024-13-01' | fmt");
  REQUIRE(bad_date.is_string());
  CHECK(bad_date.get<std::string>().rfind("ERROR: filter 'fmt': ", 0) == 0);
  CHECK(bad_date.get<std::string>().find("(in ''2024-13-01' | fmt')") != std::string::npos);
}

TEST_CASE("expr: default and coalesce") {
  check_values({
      {"params.nul | default('d')", "\"d\""},
      {"params.nul | coalesce(5)", "5"},
      {"params.name | default('d')", "\"foo\""},
      {"params.zero | default(1)", "0"},
      {"params.empty | coalesce('x')", "\"\""},
      {"params.missing | default('d')", "\"d\""},  // a missing last key reads as null here
      {"nope | default(1)", "1"},
      {"params.list[9] | default(0)", "0"},
      {"params?.x | default(params.n)", "5"},
      {"params.nul | default(null) | default(2)", "2"},
  });
  // Only the last step: a missing namespace before it is still an error.
  CHECK(eval("nope.x | default(1)") == "ERROR: nope: name 'nope' is not defined (in 'nope.x | default(1)')");
}

TEST_CASE("expr: filter arguments may hold references") {
  CHECK(eval("params.names | join(params.name)") == "afoob");
  CHECK(eval("params.m | getitem(params.m.b, needs.build.result)") == "success");
}

TEST_CASE("expr: syntax errors with offsets") {
  struct Case {
    const char* text;
    const char* message;
    std::size_t offset;
  };
  const std::vector<Case> cases = {
      {"a + )", "unexpected character '+' at column 3 in 'a + )'", 2},
      {"a == )", "unexpected token ')' at column 6 in 'a == )'", 5},
      {"  a ==", "unexpected end of expression at column 5 in 'a =='", 6},
      {"", "empty expression", 0},
      {"   ", "empty expression", 0},
      {"a b", "unexpected token 'b' at column 3 in 'a b'", 2},
      {"(a", "unexpected end of expression at column 3 in '(a'", 2},
      {"a)", "unexpected token ')' at column 2 in 'a)'", 1},
      {"'abc", "unterminated string at column 1 in ''abc'", 0},
      {"x == \"abc", "unterminated string at column 6 in 'x == \"abc'", 5},
      {"a = 1", "unexpected character '=' (did you mean '=='?) at column 3 in 'a = 1'", 2},
      {"a & b", "unexpected character '&' (did you mean '&&'?) at column 3 in 'a & b'", 2},
      {"a.", "expected a name or '*' after '.' at column 3 in 'a.'", 2},
      {"a?.1", "expected a name or '*' after '?.' at column 4 in 'a?.1'", 3},
      {"a[", "unexpected end of expression at column 3 in 'a['", 2},
      {"a[1", "unexpected end of expression at column 4 in 'a[1'", 3},
      {"12abc", "invalid number '12abc' at column 1 in '12abc'", 0},
      {"foo(1)", "unknown function 'foo' at column 1 in 'foo(1)'", 0},
      {"x | nope", "unknown filter 'nope' at column 5 in 'x | nope'", 4},
      {"x | 'a'", "expected a filter name after '|' at column 5 in 'x | 'a''", 4},
      {"x |", "expected a filter name after '|' at column 4 in 'x |'", 3},
      {"contains('a')", "contains() takes 2 arguments, got 1 at column 1 in 'contains('a')'", 0},
      {"success(1)", "success() takes no arguments, got 1 at column 1 in 'success(1)'", 0},
      {"format()", "format() takes at least 1 argument, got 0 at column 1 in 'format()'", 0},
      {"join()", "join() takes 1 or 2 arguments, got 0 at column 1 in 'join()'", 0},
      {"x | upper(1)", "filter 'upper' takes no arguments, got 1 at column 5 in 'x | upper(1)'", 4},
      {"x | getitem", "filter 'getitem' takes 1 or 2 arguments, got 0 at column 5 in 'x | getitem'", 4},
      {"x | replace('a')", "filter 'replace' takes 2 arguments, got 1 at column 5 in 'x | replace('a')'", 4},
      {"f(1, 2", "unknown function 'f' at column 1 in 'f(1, 2'", 0},
      {"join(1 2)", "unexpected token '2' at column 8 in 'join(1 2)'", 7},
      {"and", "unexpected token 'and' at column 1 in 'and'", 0},
      {"a in", "unexpected end of expression at column 5 in 'a in'", 4},
      {"\"\\u12\"", "invalid escape '\\u' in string at column 2 in '\"\\u12\"'", 1},
      {"a\x01", "unexpected character '\\x01' at column 2 in 'a\x01'", 1},
      {"a ==\n  )", "unexpected token ')' at line 2, column 3 in 'a ==\n  )'", 7},
      {"-", "unexpected character '-' at column 1 in '-'", 0},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    std::size_t offset = 999;
    auto e = Expression::parse(c.text, false, &offset);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().message == c.message);
    CHECK(e.error().name == "TemplateError");
    CHECK(offset == c.offset);
  }
}

TEST_CASE("expr: identifiers") {
  Json vars = {{"a_b", 1}, {"c-d", 2}, {"e1", 3}, {"_x", 4}, {"in-x", 5}, {"not-x", 6}};
  EvalContext ctx{&vars};
  CHECK(eval("a_b", ctx) == 1);
  CHECK(eval("c-d", ctx) == 2);
  CHECK(eval("e1", ctx) == 3);
  CHECK(eval("_x", ctx) == 4);
  CHECK(eval("in-x", ctx) == 5);
  CHECK(eval("not-x", ctx) == 6);
  CHECK(eval("c-d == 2", ctx) == true);
  CHECK(eval("c-d==-2", ctx) == false);
}

TEST_CASE("expr: a null or non-object context has no names") {
  EvalContext none{};
  CHECK(eval("1 + 1", none) == "PARSE ERROR: unexpected character '+' at column 3 in '1 + 1'");
  CHECK(eval("params.x", none) == "ERROR: params: name 'params' is not defined (in 'params.x')");
  CHECK(eval("always() && 'ok'", none) == "ok");
  Json list = Json::array({1});
  EvalContext odd{&list};
  CHECK(eval("params?.x", odd) == Json());
}

TEST_CASE("template: typed and text rendering") {
  struct Case {
    const char* text;
    const char* expected;  // JSON
  };
  const std::vector<Case> cases = {
      {"${{ params.n }}", "5"},
      {"  ${{ params.n }}\n", "5"},
      {"${{params.list}}", "[1,2,3]"},
      {"${{ params.m }}", R"({"a":1,"b":"x"})"},
      {"${{ params.nul }}", "null"},
      {"${{ params.flag }}", "true"},
      {"${{ params.f }}", "2.5"},
      {"${{ params.name }}", "\"foo\""},
      {"n=${{ params.n }}", "\"n=5\""},
      {"${{ params.n }}${{ params.n }}", "\"55\""},
      {"${{ params.nul }}-", "\"-\""},
      {"[${{ params.flag }}/${{ params.off }}]", "\"[true/false]\""},
      {"v${{ params.f }} v${{ 3.0 }} v${{ 1e20 }}", "\"v2.5 v3.0 v1e+20\""},
      {"l=${{ params.list }} m=${{ params.m }}", R"("l=[1,2,3] m={\"a\":1,\"b\":\"x\"}")"},
      {"${{ params.name }} and ${{ params.quote }}", "\"foo and it's\""},
      {"no templates here", "\"no templates here\""},
      {"", "\"\""},
      {"$${{ params.n }}", "\"${{ params.n }}\""},
      {"a $${{ x }} b ${{ params.n }}", "\"a ${{ x }} b 5\""},
      {"$$${{ params.n }}", "\"$${{ params.n }}\""},
      {"${ not a template } $x {{ y }}", "\"${ not a template } $x {{ y }}\""},
      {"${{ '}}' }}", "\"}}\""},
      {"${{ format('{{{0}}}', 1) }}", "\"{1}\""},
      {"${{ \"a}}b\" }}!", "\"a}}b!\""},
      {"${{ params.name | upper }}-${{ matrix.region }}", "\"FOO-us-east\""},
      {"multi\nline ${{ item }}\n", "\"multi\\nline 5\\n\""},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    CHECK(render(c.text) == Json::parse(c.expected));
  }
}

TEST_CASE("template: shape queries") {
  auto one = Template::parse("  ${{ a.b }} ");
  REQUIRE(one.ok());
  CHECK(one->has_expressions());
  CHECK(one->is_single_expression());
  auto two = Template::parse("${{ a }}${{ b }}");
  REQUIRE(two.ok());
  CHECK_FALSE(two->is_single_expression());
  auto mixed = Template::parse("x ${{ a }}");
  REQUIRE(mixed.ok());
  CHECK_FALSE(mixed->is_single_expression());
  auto none = Template::parse("$${{ a }}");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_expressions());
  CHECK_FALSE(none->is_single_expression());

  auto t = Template::parse("ab ${{ x }} ${{y}}");
  REQUIRE(t.ok());
  auto exprs = t->expressions();
  REQUIRE(exprs.size() == 2);
  CHECK(exprs[0].first->text() == " x ");
  CHECK(exprs[0].second == 6);
  CHECK(exprs[1].first->text() == "y");
  CHECK(exprs[1].second == 15);
}

TEST_CASE("template: render_string") {
  auto t = Template::parse("${{ params.n }}");
  REQUIRE(t.ok());
  auto s = t->render_string(context());
  REQUIRE(s.ok());
  CHECK(*s == "5");
  auto n = Template::parse("${{ params.nul }}");
  REQUIRE(n.ok());
  CHECK(*n->render_string(context()) == "");
  auto e = Template::parse("a ${{ params.x }}");
  REQUIRE(e.ok());
  auto bad = e->render_string(context());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "params.x: key 'x' not found in 'params' (in 'params.x')");
  CHECK(bad.error().name == "TemplateError");
}

TEST_CASE("template: syntax errors with offsets into the template") {
  struct Case {
    const char* text;
    const char* message;
    std::size_t offset;
  };
  const std::vector<Case> cases = {
      {"abc ${{ x", "unterminated '${{' at column 5 (no closing '}}')", 4},
      {"${{", "unterminated '${{' at column 1 (no closing '}}')", 0},
      {"ok ${{ a }} then ${{ b", "unterminated '${{' at column 18 (no closing '}}')", 17},
      {"line1\n  ${{ x", "unterminated '${{' at line 2, column 3 (no closing '}}')", 8},
      {"abc ${{ a + 1 }}", "unexpected character '+' at column 3 in 'a + 1'", 10},
      {"abc ${{ }}", "empty expression", 7},
      {"x ${{ 'it }} y", "unterminated string at column 1 in ''it'", 6},
      {"${{ ${{ x }} }}", "unexpected character '$' at column 1 in '${{ x'", 4},
      {"${{ nope(1) }}", "unknown function 'nope' at column 1 in 'nope(1)'", 4},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    std::size_t offset = 999;
    auto t = Template::parse(c.text, &offset);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().message == c.message);
    CHECK(t.error().name == "TemplateError");
    CHECK(offset == c.offset);
  }
}

TEST_CASE("condition: the three forms") {
  struct Case {
    const char* text;
    bool expected;
  };
  const std::vector<Case> cases = {
      // one template: that expression
      {"${{ always() }}", true},
      {"${{ params.n > 3 }}", true},
      {"${{ params.empty }}", false},
      {"${{ params.list }}", true},
      {"${{ needs.my-job.result == 'failure' }}", true},
      {" ${{ params.nul }} ", false},
      // no template: the text is an expression (Python literals too)
      {"true", true},
      {"false", false},
      {"False", false},
      {"True", true},
      {"None", false},
      {"params.n == 5", true},
      {"params.name == 'bar'", false},
      {"success()", true},
      {"0", false},
      {"'false'", true},
      // mixed: render, then parse as an expression with Python literals (ddeutil)
      {"\"${{ params.name }}\" == \"foo\"", true},
      {"\"${{ params.name }}\" == \"bar\"", false},
      {"${{ item }} > 4", true},
      {"${{ item }} > 5", false},
      {"${{ params.flag }} == True", true},
      {"${{ params.off }} or ${{ params.n }} == 5", true},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    auto r = wf::evaluate_condition(c.text, context());
    REQUIRE(r.ok());
    CHECK(*r == c.expected);
  }
  auto region = wf::evaluate_condition("'${{ matrix.region }}' in 'us-east,us-west'", context());
  REQUIRE(region.ok());
  CHECK(*region);
}

TEST_CASE("condition: status flags reach the functions") {
  CHECK(*wf::evaluate_condition("${{ failure() }}", context(true)) == true);
  CHECK(*wf::evaluate_condition("failure()", context(false)) == false);
  CHECK(*wf::evaluate_condition("${{ cancelled() }}", context(false, true)) == true);
  CHECK(*wf::evaluate_condition("${{ success() }}", context(false, true)) == false);
}

TEST_CASE("condition: errors") {
  auto missing = wf::evaluate_condition("${{ params.x }}", context());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "params.x: key 'x' not found in 'params' (in 'params.x')");
  auto syntax = wf::evaluate_condition("a ==", context());
  REQUIRE_FALSE(syntax.ok());
  CHECK(syntax.error().message == "unexpected end of expression at column 5 in 'a =='");
  // Mixed: the rendered text is what gets parsed, and the message quotes it.
  auto rendered = wf::evaluate_condition("${{ params.name }} ==", context());
  REQUIRE_FALSE(rendered.ok());
  CHECK(rendered.error().message == "unexpected end of expression at column 7 in 'foo =='");
  auto name = wf::evaluate_condition("${{ params.name }} == 'foo'", context());
  REQUIRE_FALSE(name.ok());  // rendered unquoted, `foo` is a name
  CHECK(name.error().message == "foo: name 'foo' is not defined (in 'foo == 'foo'')");
  auto unterminated = wf::evaluate_condition("${{ x", context());
  REQUIRE_FALSE(unterminated.ok());
  CHECK(unterminated.error().name == "TemplateError");
}

TEST_CASE("references: chains of literal names from each root") {
  struct Case {
    const char* text;
    std::vector<std::vector<std::string>> paths;
    std::vector<std::size_t> offsets;
  };
  const std::vector<Case> cases = {
      {"needs.build.outputs.x", {{"needs", "build", "outputs", "x"}}, {0}},
      {"a['b'][0]", {{"a", "b", "0"}}, {0}},
      {"a[\"b c\"].d", {{"a", "b c", "d"}}, {0}},
      {"a.*.b", {{"a"}}, {0}},
      {"a[*].b", {{"a"}}, {0}},
      {"a?.b?.c", {{"a", "b", "c"}}, {0}},
      {"a[b.c].d", {{"a"}, {"b", "c"}}, {0, 2}},
      {"a[1.5]", {{"a"}}, {0}},
      {"needs.my-job.result == 'failure'", {{"needs", "my-job", "result"}}, {0}},
      {"format('{0}', params.x) || env.Y", {{"params", "x"}, {"env", "Y"}}, {14, 27}},
      {"x | default(params.d) | getitem(matrix.k)", {{"x"}, {"params", "d"}, {"matrix", "k"}}, {0, 12, 32}},
      {"fromJson(stages.s.outputs.p).q", {{"stages", "s", "outputs", "p"}}, {9}},
      {"(params).x", {{"params", "x"}}, {1}},
      {"!item && loop > 1", {{"item"}, {"loop"}}, {1, 9}},
      {"1 == 'a'", {}, {}},
      {"always()", {}, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.text));
    auto e = Expression::parse(c.text);
    REQUIRE(e.ok());
    auto refs = e->references();
    REQUIRE(refs.size() == c.paths.size());
    for (std::size_t i = 0; i < refs.size(); ++i) {
      CHECK(refs[i].path == c.paths[i]);
      CHECK(refs[i].offset == c.offsets[i]);
    }
  }
}

TEST_CASE("references: template offsets point into the template") {
  auto t = Template::parse("run ${{ params.a }} and ${{ needs.j.outputs.o | upper }}");
  REQUIRE(t.ok());
  auto refs = t->references();
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].path == std::vector<std::string>{"params", "a"});
  CHECK(refs[0].offset == 8);
  CHECK(refs[1].path == std::vector<std::string>{"needs", "j", "outputs", "o"});
  CHECK(refs[1].offset == 28);
}

TEST_CASE("calls_status_function") {
  struct Case {
    const char* text;
    bool expected;
  };
  for (auto c :
       {Case{"always()", true}, Case{"success() && params.x", true}, Case{"format('{0}', failure())", true},
        Case{"x | default(cancelled())", true}, Case{"needs.a.result == 'failure'", false},
        Case{"'success()'", false}, Case{"success", false}}) {
    CAPTURE(std::string(c.text));
    auto e = Expression::parse(c.text);
    REQUIRE(e.ok());
    CHECK(e->calls_status_function() == c.expected);
  }
  auto t = Template::parse("x ${{ a }} ${{ always() }}");
  REQUIRE(t.ok());
  CHECK(t->calls_status_function());
  auto plain = Template::parse("${{ a }}");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->calls_status_function());
}

TEST_CASE("expression: copies are independent and keep working") {
  auto parsed = Expression::parse("params.list | join('-')");
  REQUIRE(parsed.ok());
  Expression copy = *parsed;
  Expression moved = std::move(*parsed);
  CHECK(copy.text() == "params.list | join('-')");
  CHECK(*copy.evaluate(context()) == "1-2-3");
  CHECK(*moved.evaluate(context()) == "1-2-3");
  copy = moved;
  CHECK(*copy.evaluate(context()) == "1-2-3");
  auto t = Template::parse("a ${{ item }}");
  REQUIRE(t.ok());
  Template t2 = *t;
  CHECK(*t2.render(context()) == "a 5");
}

TEST_CASE("robustness: deep nesting is an error, not a crash") {
  const std::size_t n = 100000;
  auto deep_parens = Expression::parse(std::string(n, '(') + "1" + std::string(n, ')'));
  REQUIRE_FALSE(deep_parens.ok());
  CHECK(deep_parens.error().message.rfind("expression is nested more than 200 levels deep at column ", 0) ==
        0);

  for (const std::string& text :
       {std::string(n, '!') + "x", std::string(n / 4, 'a') + std::string(n, '.') + "b",
        "a" + repeat("[a", n / 2) + std::string(n / 2, ']')}) {
    std::size_t offset = 0;
    auto e = Expression::parse(text, false, &offset);
    CHECK_FALSE(e.ok());
    CHECK(offset <= text.size());
  }

  std::string chain = "a";
  for (int i = 0; i < 5000; ++i) chain += ".b";
  auto long_chain = Expression::parse(chain);
  REQUIRE_FALSE(long_chain.ok());
  CHECK(long_chain.error().message.find("nested more than 200 levels deep") != std::string::npos);

  std::string ors = "1";
  for (int i = 0; i < 5000; ++i) ors += " || 1";
  CHECK_FALSE(Expression::parse(ors).ok());

  std::string pipes = "1";
  for (int i = 0; i < 5000; ++i) pipes += " | str";
  CHECK_FALSE(Expression::parse(pipes).ok());

  // Just under the limit works.
  std::string ok_parens = std::string(150, '(') + "1" + std::string(150, ')');
  CHECK(eval(ok_parens) == 1);

  // Deep JSON text is refused before nlohmann's recursive code sees it.
  Json vars = {{"s", std::string(100000, '[') + std::string(100000, ']')}};
  EvalContext ctx{&vars};
  CHECK(eval("fromJson(s)", ctx) ==
        "ERROR: fromJson(): invalid JSON: nested more than 512 levels (in 'fromJson(s)')");
  CHECK(eval("s | from_json", ctx) ==
        "ERROR: filter 'from_json': invalid JSON: nested more than 512 levels (in 's | from_json')");
}

TEST_CASE("robustness: random input never crashes") {
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::string alphabet = "abcxyz_-019.?*[](){}$'\"\\|&!=<> ,\n\tnotinandrue";
  int parsed = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string text;
    std::size_t len = next() % 40;
    for (std::size_t j = 0; j < len; ++j) {
      if (i % 4 == 0)
        text += static_cast<char>(next() % 256);  // raw bytes
      else
        text += alphabet[next() % alphabet.size()];
    }
    std::size_t offset = 0;
    auto e = Expression::parse(text, i % 2 == 0, &offset);
    if (e.ok()) {
      ++parsed;
      (void)e->evaluate(context());
      (void)e->references();
    } else {
      CHECK(offset <= text.size());
      CHECK_FALSE(e.error().message.empty());
    }
    std::string tpl = "pre ${{ " + text + " }} post ${{" + text;
    auto t = Template::parse(tpl, &offset);
    if (t.ok())
      (void)t->render(context());
    else
      CHECK(offset <= tpl.size());
    (void)wf::evaluate_condition(text, context());
  }
  CHECK(parsed > 0);
}

TEST_CASE("expr: integral floats work as integer keys") {
  Json vars = {{"m", {{"1", "one"}}}, {"l", {10, 20}}};
  EvalContext ctx{&vars};
  CHECK(eval("m[1.0]", ctx) == "one");
  CHECK(eval("l[1.0]", ctx) == 20);
  CHECK(eval("1.0 in m", ctx) == true);
  CHECK(eval("m | getitem(1.0)", ctx) == "one");
  CHECK(eval("l | getindex(1.0)", ctx) == 20);
}
