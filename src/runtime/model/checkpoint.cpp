// Checkpoint files: write to a temporary file, sync, rename; read with every
// length checked against what is left of the file before anything is allocated.
#include "runtime/model/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <set>
#include <vector>

namespace tensortier::runtime::model {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the checkpoint format is little-endian; add byte swapping for this target");

constexpr char kMagic[8] = {'T', 'T', 'C', 'K', 'P', 'T', '1', '\0'};
constexpr std::uint32_t kMaxNameBytes = 1024;
constexpr std::uint32_t kMaxNdims = 6;
constexpr std::uint32_t kMaxTensors = 1u << 20;

class Fnv1a {
 public:
  void add(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < bytes; ++i) {
      hash_ ^= p[i];
      hash_ *= 0x100000001b3ULL;
    }
  }
  std::uint64_t value() const noexcept { return hash_; }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::string errno_text() { return std::strerror(errno); }

class Writer {
 public:
  explicit Writer(std::FILE* f) : f_(f) {}
  bool put(const void* data, std::size_t bytes) {
    hash_.add(data, bytes);
    return std::fwrite(data, 1, bytes, f_) == bytes;
  }
  template <typename T>
  bool put(T value) {
    return put(&value, sizeof value);
  }
  std::uint64_t hash() const noexcept { return hash_.value(); }

 private:
  std::FILE* f_;
  Fnv1a hash_;
};

class Reader {
 public:
  Reader(std::FILE* f, std::uint64_t size) : f_(f), left_(size) {}
  std::uint64_t left() const noexcept { return left_; }
  bool get(void* data, std::size_t bytes) {
    if (bytes > left_ || std::fread(data, 1, bytes, f_) != bytes) return false;
    hash_.add(data, bytes);
    left_ -= bytes;
    return true;
  }
  template <typename T>
  bool get(T& value) {
    return get(&value, sizeof value);
  }
  std::uint64_t hash() const noexcept { return hash_.value(); }

 private:
  std::FILE* f_;
  std::uint64_t left_;
  Fnv1a hash_;
};

void sync_directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the rename itself has happened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Status save_parameters(const std::string& path, const UNet3dConfig& config,
                       const Parameters& parameters) {
  auto bad = [&](const std::string& what) {
    return Status(Errc::invalid_argument, "checkpoint '" + path + "': " + what);
  };
  if (parameters.names.size() != parameters.tensors.size())
    return bad("parameters have " + std::to_string(parameters.names.size()) + " names and " +
               std::to_string(parameters.tensors.size()) + " tensors");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < parameters.names.size(); ++i) {
    const std::string& name = parameters.names[i];
    const Tensor& t = parameters.tensors[i];
    if (name.empty() || name.size() > kMaxNameBytes) return bad("bad parameter name '" + name + "'");
    if (!seen.insert(name).second) return bad("parameter '" + name + "' appears twice");
    if (!t.defined() || t.data_type() != DataType::f32 || !t.is_plain() ||
        t.ndims() > static_cast<int>(kMaxNdims))
      return bad("parameter '" + name + "' is " + (t.defined() ? describe(t.desc()) : "undefined") +
                 "; plain f32 is accepted");
  }

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  auto io = [&](const std::string& what) {
    const Status s(Errc::io_error, "checkpoint '" + path + "': " + what + ": " + errno_text());
    std::remove(tmp.c_str());
    return s;
  };
  File f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return Status(Errc::io_error, "checkpoint '" + path + "': cannot create '" + tmp +
                                            "': " + errno_text());
  Writer w(f.get());
  bool ok = w.put(kMagic, sizeof kMagic);
  ok = ok && w.put(static_cast<std::uint32_t>(config.levels)) &&
       w.put(static_cast<std::uint32_t>(config.base_filters)) &&
       w.put(static_cast<std::uint32_t>(config.in_channels)) &&
       w.put(static_cast<std::uint32_t>(config.classes)) &&
       w.put(static_cast<std::uint32_t>(config.activation == Activation::leaky_relu ? 1 : 0)) &&
       w.put(config.negative_slope) && w.put(static_cast<std::uint32_t>(config.batch_norm)) &&
       w.put(static_cast<std::uint32_t>(config.conv_bias)) &&
       w.put(static_cast<std::uint32_t>(parameters.names.size()));
  for (std::size_t i = 0; ok && i < parameters.names.size(); ++i) {
    const std::string& name = parameters.names[i];
    const Tensor& t = parameters.tensors[i];
    ok = w.put(static_cast<std::uint32_t>(name.size())) && w.put(name.data(), name.size()) &&
         w.put(static_cast<std::uint32_t>(t.ndims()));
    for (int d = 0; ok && d < t.ndims(); ++d) ok = w.put(static_cast<std::int64_t>(t.dim(d)));
    ok = ok && w.put(t.data(), static_cast<std::size_t>(t.elems()) * sizeof(float));
  }
  ok = ok && w.put(w.hash());
  if (!ok) return io("cannot write '" + tmp + "'");
  if (std::fflush(f.get()) != 0 || ::fsync(::fileno(f.get())) != 0)
    return io("cannot sync '" + tmp + "'");
  if (std::fclose(f.release()) != 0) return io("cannot close '" + tmp + "'");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return io("cannot rename '" + tmp + "'");
  sync_directory_of(path);
  return Status::ok();
}

Result<Checkpoint> load_parameters(const std::string& path, Allocator& allocator) {
  auto bad = [&](const std::string& what) {
    return Status(Errc::invalid_argument, "checkpoint '" + path + "': " + what);
  };
  File f(std::fopen(path.c_str(), "rb"));
  if (!f)
    return Status(errno == ENOENT ? Errc::not_found : Errc::io_error,
                  "checkpoint '" + path + "': cannot open: " + errno_text());
  if (std::fseek(f.get(), 0, SEEK_END) != 0) return bad("cannot seek: " + errno_text());
  const long size = std::ftell(f.get());
  if (size < 0 || std::fseek(f.get(), 0, SEEK_SET) != 0)
    return bad("not a regular file");
  Reader r(f.get(), static_cast<std::uint64_t>(size));
  const std::string truncated = "truncated or not a tensortier checkpoint";

  char magic[sizeof kMagic] = {};
  if (!r.get(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    return bad("not a tensortier checkpoint (no TTCKPT1 magic)");
  std::uint32_t levels = 0, base = 0, in_channels = 0, classes = 0, activation = 0, batch_norm = 0,
                conv_bias = 0, count = 0;
  float slope = 0;
  if (!r.get(levels) || !r.get(base) || !r.get(in_channels) || !r.get(classes) ||
      !r.get(activation) || !r.get(slope) || !r.get(batch_norm) || !r.get(conv_bias) ||
      !r.get(count))
    return bad(truncated + " (in the model config)");
  if (levels < 1 || levels > 8 || base < 1 || base > 4096 || in_channels < 1 ||
      in_channels > 4096 || classes < 2 || classes > 4096 || activation > 1 || batch_norm > 1 ||
      conv_bias > 1 || !std::isfinite(slope) || slope < 0.f)
    return bad("corrupt model config (levels " + std::to_string(levels) + ", base filters " +
               std::to_string(base) + ", classes " + std::to_string(classes) + ")");
  if (count > kMaxTensors) return bad("corrupt tensor count " + std::to_string(count));

  Checkpoint c;
  c.config.levels = static_cast<int>(levels);
  c.config.base_filters = static_cast<int>(base);
  c.config.in_channels = static_cast<int>(in_channels);
  c.config.classes = static_cast<int>(classes);
  c.config.activation = activation == 1 ? Activation::leaky_relu : Activation::relu;
  c.config.negative_slope = slope;
  c.config.batch_norm = batch_norm == 1;
  c.config.conv_bias = conv_bias == 1;
  std::set<std::string> seen;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::string which = "tensor " + std::to_string(i + 1) + " of " + std::to_string(count);
    std::uint32_t name_bytes = 0;
    if (!r.get(name_bytes)) return bad(truncated + " (" + which + ")");
    if (name_bytes < 1 || name_bytes > kMaxNameBytes || name_bytes > r.left())
      return bad("corrupt name length " + std::to_string(name_bytes) + " (" + which + ")");
    std::string name(name_bytes, '\0');
    if (!r.get(name.data(), name_bytes)) return bad(truncated + " (" + which + ")");
    if (!seen.insert(name).second) return bad("tensor '" + name + "' appears twice");
    std::uint32_t ndims = 0;
    if (!r.get(ndims)) return bad(truncated + " (tensor '" + name + "')");
    if (ndims < 1 || ndims > kMaxNdims)
      return bad("tensor '" + name + "' has " + std::to_string(ndims) + " dimensions");
    Dims dims(ndims);
    std::uint64_t elems = 1;
    for (std::uint32_t d = 0; d < ndims; ++d) {
      std::int64_t v = 0;
      if (!r.get(v)) return bad(truncated + " (tensor '" + name + "')");
      if (v < 1 || static_cast<std::uint64_t>(v) > r.left() / sizeof(float) / elems)
        return bad("tensor '" + name + "' has dimension " + std::to_string(v) + ": corrupt, or " +
                   truncated);
      dims[d] = v;
      elems *= static_cast<std::uint64_t>(v);
    }
    Tensor t;
    try {
      t = Tensor::empty(allocator, dims);
    } catch (const std::bad_alloc&) {
      return Status(Errc::no_space, "checkpoint '" + path + "': no room for tensor '" + name + "'");
    }
    if (!r.get(t.data(), elems * sizeof(float))) return bad(truncated + " (tensor '" + name + "')");
    c.parameters.names.push_back(std::move(name));
    c.parameters.tensors.push_back(std::move(t));
  }
  const std::uint64_t expected = r.hash();
  std::uint64_t stored = 0;
  if (!r.get(stored)) return bad(truncated + " (no checksum)");
  if (stored != expected) return bad("checksum mismatch: the file is corrupt");
  if (r.left() != 0) return bad(std::to_string(r.left()) + " unexpected bytes after the checksum");
  return c;
}

Status check_parameters(const graph::Graph& g, const Parameters& p) {
  for (const graph::TensorInfo& t : g.tensors()) {
    if (t.kind != graph::TensorKind::weight && t.kind != graph::TensorKind::state) continue;
    std::size_t i = 0;
    while (i < p.names.size() && p.names[i] != t.name) ++i;
    if (i == p.names.size())
      return Status(Errc::invalid_argument, "parameter '" + t.name + "' is missing");
    if (p.tensors[i].dims() != t.dims)
      return Status(Errc::invalid_argument, "parameter '" + t.name + "' is " +
                                                describe(p.tensors[i].desc()) + ", the model needs " +
                                                graph::dims_text(t.dims));
  }
  return Status::ok();
}

}  // namespace tensortier::runtime::model
