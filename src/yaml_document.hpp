// Private to the YAML loader: a read-only YAML tree with positions, parsed with libyaml.
// It owns the parsing of workflow files (the first document of a stream) into nodes that
// keep their tag, scalar text and start position; it knows nothing of workflows. The node
// interface follows the subset of yaml-cpp's that the loader used before (IsMap, Scalar,
// Mark, iteration with ->first/->second), so that the loader reads the same either way.
// yaml-cpp was 40% of the CPU time of `wf run` on a 1000-job file; libyaml builds this tree
// about ten times faster (see docs/performance.md).
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wf::ydoc {

enum class NodeType { Undefined, Null, Scalar, Sequence, Map };

// 0-based line and column of a node's first character (its anchor or tag, if any).
struct SourceMark {
  int line = -1;
  int column = -1;
};

struct NodeData;
struct Item;

// A handle to a node of a Document (or an undefined node); cheap to copy, valid while the
// Document lives.
class Node {
 public:
  Node() = default;
  explicit Node(NodeType) {}  // only Undefined: the "no such node" value
  explicit Node(const NodeData* d) : d_(d) {}

  NodeType Type() const;
  bool IsDefined() const { return d_ != nullptr; }
  bool IsNull() const { return Type() == NodeType::Null; }
  bool IsScalar() const { return Type() == NodeType::Scalar; }
  bool IsSequence() const { return Type() == NodeType::Sequence; }
  bool IsMap() const { return Type() == NodeType::Map; }
  explicit operator bool() const { return IsDefined(); }

  // The text of a scalar ("" for other nodes); "?" for a plain untagged scalar, "!" for a
  // quoted or block one, else the resolved tag ("tag:yaml.org,2002:str" for !!str).
  const std::string& Scalar() const;
  const std::string& Tag() const;
  SourceMark Mark() const;
  std::size_t size() const;  // entries of a map or sequence
  bool is(const Node& other) const { return d_ == other.d_; }
  // The value of the first entry of a map whose key is the scalar `key`.
  Node operator[](std::string_view key) const;

  using const_iterator = std::vector<Item>::const_iterator;
  const_iterator begin() const;
  const_iterator end() const;

 private:
  const NodeData* d_ = nullptr;
};

// An element of a sequence (the Node itself) or an entry of a map (`first`, `second`).
struct Item : Node {
  Item() = default;
  explicit Item(Node element) : Node(element) {}
  Item(Node key, Node value) : first(key), second(value) {}
  Node first, second;
};

struct NodeData {
  NodeType type = NodeType::Null;
  std::string tag;
  std::string scalar;
  SourceMark mark;
  std::vector<Item> items;
  std::size_t expanded = 1;  // nodes in this one with aliases expanded (set when it closes)
};

struct ParseError {
  SourceMark mark;
  std::string message;
  // A limit of wf's own, not a syntax error: no other parser should be tried.
  bool limit = false;
};

// What a document may hold: nesting depth, and nodes counted with every alias expanded (a
// few lines of aliases can otherwise stand for billions of nodes).
inline constexpr int kMaxYamlDepth = 256;
inline constexpr std::size_t kMaxYamlExpandedNodes = 1'000'000;

// The nodes of one parsed document; an empty stream gives an undefined root.
class Document {
 public:
  Document() = default;
  Document(Document&&) = default;
  Document& operator=(Document&&) = default;
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  Node root() const { return root_; }
  // A new node, to be filled in before any Node handle to it is read.
  NodeData& add(NodeType type, SourceMark mark);
  void set_root(Node n) { root_ = n; }

 private:
  std::deque<NodeData> nodes_;  // a deque: handles stay valid as it grows
  Node root_;
};

// Parses the first document of `text` with libyaml. On a syntax error returns nullopt and
// sets `error` to libyaml's position and message; also on a document past the limits above,
// or an alias inside the node it names (a structure that contains itself).
std::optional<Document> parse_document(const std::string& text, ParseError& error);

}  // namespace wf::ydoc
