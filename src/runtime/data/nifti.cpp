// NIfTI in and out through libnifti2 (nifti2_io.h reads NIfTI-1 and NIfTI-2).
// Our checks run before the library's, so a bad file is one Status naming it;
// the library's own stderr messages are switched off once per process.
#include "runtime/data/nifti.hpp"

#include <nifti2_io.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

namespace tensortier::data {

namespace {

constexpr std::int64_t kMaxDim = 16384;

struct NimFree {
  void operator()(nifti_image* nim) const noexcept { nifti_image_free(nim); }
};
using NimPtr = std::unique_ptr<nifti_image, NimFree>;

void quiet_library() {
  static std::once_flag once;
  std::call_once(once, [] { nifti_set_debug_level(0); });
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() > n && s.compare(s.size() - n, n, suffix) == 0;
}

Status bad(const std::string& path, const std::string& what) {
  return Status(Errc::invalid_argument, "NIfTI '" + path + "': " + what);
}

// "240x240x155 (x, y, z)": sizes as NIfTI tools print them.
std::string shape_text(const Dims3& d) {
  return std::to_string(d.width) + "x" + std::to_string(d.height) + "x" + std::to_string(d.depth) +
         " (x, y, z)";
}

bool supported_datatype(int dt) {
  switch (dt) {
    case DT_UINT8: case DT_INT8: case DT_UINT16: case DT_INT16: case DT_UINT32: case DT_INT32:
    case DT_UINT64: case DT_INT64: case DT_FLOAT32: case DT_FLOAT64:
      return true;
    default:
      return false;
  }
}

// Opens the header of `path` (no voxel data) after checking the file exists.
Result<NimPtr> open_header(const std::string& path) {
  quiet_library();
  if (!is_nifti_path(path))
    return bad(path, "not a NIfTI file name; accepted: a name ending in .nii or .nii.gz");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return Status(Errc::not_found, "NIfTI '" + path + "': no such file");
  if (!S_ISREG(st.st_mode)) return bad(path, "not a regular file");
  if (access(path.c_str(), R_OK) != 0) return bad(path, "not readable");
  NimPtr nim(nifti_image_read(path.c_str(), 0));
  if (!nim) return bad(path, "not a NIfTI-1 or NIfTI-2 file (bad, truncated or foreign header)");
  if (nim->nifti_type == NIFTI_FTYPE_ANALYZE || nim->nifti_type == NIFTI_FTYPE_ASCII)
    return bad(path, "not a NIfTI-1 or NIfTI-2 file (ANALYZE 7.5 or ASCII header)");
  if (!supported_datatype(nim->datatype))
    return bad(path, std::string("datatype ") + nifti_datatype_string(nim->datatype) + " (" +
                         std::to_string(nim->datatype) +
                         ") is not supported; accepted: integers of 8 to 64 bits, FLOAT32, FLOAT64");
  for (int a = 1; a <= 3; ++a)
    if (nim->dim[a] < 1 || nim->dim[a] > kMaxDim)
      return bad(path, "dim[" + std::to_string(a) + "] = " + std::to_string(nim->dim[a]) +
                           "; accepted: 1.." + std::to_string(kMaxDim));
  return nim;
}

NiftiGeometry geometry_of(const nifti_image& nim) {
  NiftiGeometry g;
  g.dims = {static_cast<int>(nim.nz), static_cast<int>(nim.ny), static_cast<int>(nim.nx)};
  g.pixdim = {nim.dx, nim.dy, nim.dz};
  g.xyz_units = nim.xyz_units;
  g.time_units = nim.time_units;
  g.qform_code = nim.qform_code;
  g.quatern_b = nim.quatern_b;
  g.quatern_c = nim.quatern_c;
  g.quatern_d = nim.quatern_d;
  g.qoffset_x = nim.qoffset_x;
  g.qoffset_y = nim.qoffset_y;
  g.qoffset_z = nim.qoffset_z;
  g.qfac = nim.qfac < 0 ? -1.0 : 1.0;
  g.sform_code = nim.sform_code;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      g.srow[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)] = nim.sto_xyz.m[r][c];
  const auto a = g.affine();
  nifti_dmat44 m{};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) m.m[r][c] = a[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)];
  nifti_dmat44_to_orientation(m, &g.orientation[0], &g.orientation[1], &g.orientation[2]);
  return g;
}

// The number of volumes (dim[4]); dims 5..7 must be 1.
Result<std::int64_t> volumes_of(const std::string& path, const nifti_image& nim) {
  for (int a = 5; a <= 7; ++a)
    if (nim.ndim >= a && nim.dim[a] > 1)
      return bad(path, std::to_string(nim.ndim) + "D image (dim[" + std::to_string(a) +
                           "] = " + std::to_string(nim.dim[a]) + "); accepted: 3D or 4D");
  return nim.ndim >= 4 && nim.dim[4] > 1 ? nim.dim[4] : std::int64_t{1};
}

template <typename T>
void convert(const void* src, float* dst, std::size_t n) {
  const T* s = static_cast<const T*>(src);
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
}

template <typename T>
void convert_double(const void* src, double* dst, std::size_t n) {
  const T* s = static_cast<const T*>(src);
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<double>(s[i]);
}

bool has_scaling(const nifti_image& nim) {
  return nim.scl_slope != 0 && std::isfinite(nim.scl_slope) && std::isfinite(nim.scl_inter) &&
         !(nim.scl_slope == 1 && nim.scl_inter == 0);
}

// Reads the voxels of an opened header and converts them (scaled) to float.
Status load_floats(const std::string& path, nifti_image& nim, float* dst) {
  if (nifti_image_load(&nim) != 0 || nim.data == nullptr)
    return bad(path, "cannot read the voxel data (truncated or corrupt file)");
  const auto n = static_cast<std::size_t>(nim.nvox);
  switch (nim.datatype) {
    case DT_UINT8: convert<std::uint8_t>(nim.data, dst, n); break;
    case DT_INT8: convert<std::int8_t>(nim.data, dst, n); break;
    case DT_UINT16: convert<std::uint16_t>(nim.data, dst, n); break;
    case DT_INT16: convert<std::int16_t>(nim.data, dst, n); break;
    case DT_UINT32: convert<std::uint32_t>(nim.data, dst, n); break;
    case DT_INT32: convert<std::int32_t>(nim.data, dst, n); break;
    case DT_UINT64: convert<std::uint64_t>(nim.data, dst, n); break;
    case DT_INT64: convert<std::int64_t>(nim.data, dst, n); break;
    case DT_FLOAT32: std::memcpy(dst, nim.data, n * sizeof(float)); break;
    case DT_FLOAT64: convert<double>(nim.data, dst, n); break;
    default: return bad(path, "unsupported datatype");  // open_header checked it
  }
  if (has_scaling(nim)) {
    const auto slope = static_cast<float>(nim.scl_slope);
    const auto inter = static_cast<float>(nim.scl_inter);
    for (std::size_t i = 0; i < n; ++i) dst[i] = dst[i] * slope + inter;
  }
  nifti_image_unload(&nim);
  return Status::ok();
}

struct ScanHeaders {
  std::vector<NimPtr> nims;
  NiftiGeometry geometry;
};

Result<ScanHeaders> open_scan(const std::vector<std::string>& paths) {
  if (paths.size() != 1 && paths.size() != static_cast<std::size_t>(kNumModalities))
    return Status(Errc::invalid_argument,
                  "a scan is " + std::to_string(paths.size()) +
                      " files; accepted: 4 (3D T1, T1Gd, T2, FLAIR) or 1 (4D with 4 volumes)");
  ScanHeaders h;
  for (const std::string& path : paths) {
    auto nim = open_header(path);
    if (!nim) return nim.status();
    auto volumes = volumes_of(path, **nim);
    if (!volumes) return volumes.status();
    if (paths.size() == 1 && *volumes != kNumModalities)
      return bad(path, "a one-file scan must be 4D with 4 volumes (T1, T1Gd, T2, FLAIR); it has " +
                           std::to_string(*volumes));
    if (paths.size() > 1 && *volumes != 1)
      return bad(path, "a modality file must be 3D; it has " + std::to_string(*volumes) +
                           " volumes");
    const NiftiGeometry g = geometry_of(**nim);
    if (h.nims.empty()) {
      h.geometry = g;
    } else if (!(g.dims == h.geometry.dims)) {
      return bad(path, "shape " + shape_text(g.dims) + " differs from '" + paths.front() +
                           "' (" + shape_text(h.geometry.dims) + ")");
    }
    h.nims.push_back(std::move(*nim));
  }
  return h;
}

std::string temp_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  const std::string ext = ends_with(path, ".nii.gz") ? ".nii.gz" : ".nii";
  const std::string stem = path.substr(0, path.size() - ext.size());
  return stem + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ext;
}

// Writes `data` (datatype, nx*ny*nz*volumes values) with the geometry.
Status write_image(const std::string& path, int datatype, const void* data, std::int64_t volumes,
                   const NiftiGeometry& g, const std::string& description) {
  quiet_library();
  if (!is_nifti_path(path))
    return bad(path, "not a NIfTI file name; accepted: a name ending in .nii or .nii.gz");
  if (data == nullptr) return bad(path, "no data to write");
  const Dims3& d = g.dims;
  if (d.depth < 1 || d.height < 1 || d.width < 1 || d.depth > kMaxDim || d.height > kMaxDim ||
      d.width > kMaxDim || volumes < 1)
    return bad(path, "cannot write shape " + shape_text(d));
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  if (access(dir.c_str(), W_OK) != 0)
    return Status(Errc::io_error,
                  "NIfTI '" + path + "': directory '" + dir + "' does not exist or is not writable");

  const std::int64_t dims[8] = {volumes > 1 ? 4 : 3, d.width, d.height, d.depth, volumes, 1, 1, 1};
  NimPtr nim(nifti_make_new_nim(dims, datatype, 0));
  if (!nim) return Status(Errc::internal, "NIfTI '" + path + "': cannot create a header");
  const bool nifti1 = d.width <= 32767 && d.height <= 32767 && d.depth <= 32767 && volumes <= 32767;
  nim->nifti_type = nifti1 ? NIFTI_FTYPE_NIFTI1_1 : NIFTI_FTYPE_NIFTI2_1;
  nim->dx = nim->pixdim[1] = g.pixdim[0];
  nim->dy = nim->pixdim[2] = g.pixdim[1];
  nim->dz = nim->pixdim[3] = g.pixdim[2];
  nim->dt = nim->pixdim[4] = 1;
  nim->xyz_units = g.xyz_units;
  nim->time_units = g.time_units;
  nim->qform_code = g.qform_code;
  nim->quatern_b = g.quatern_b;
  nim->quatern_c = g.quatern_c;
  nim->quatern_d = g.quatern_d;
  nim->qoffset_x = g.qoffset_x;
  nim->qoffset_y = g.qoffset_y;
  nim->qoffset_z = g.qoffset_z;
  nim->qfac = g.qfac < 0 ? -1.0 : 1.0;
  nim->pixdim[0] = nim->qfac;
  nim->qto_xyz = nifti_quatern_to_dmat44(g.quatern_b, g.quatern_c, g.quatern_d, g.qoffset_x,
                                         g.qoffset_y, g.qoffset_z, g.pixdim[0], g.pixdim[1],
                                         g.pixdim[2], nim->qfac);
  nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
  nim->sform_code = g.sform_code;
  nim->sto_xyz = {};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      nim->sto_xyz.m[r][c] = g.srow[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)];
  nim->sto_xyz.m[3][3] = 1;
  if (g.sform_code > 0) nim->sto_ijk = nifti_dmat44_inverse(nim->sto_xyz);
  std::snprintf(nim->descrip, sizeof nim->descrip, "%s", description.c_str());

  const std::string tmp = temp_name(path);
  if (nifti_set_filenames(nim.get(), tmp.c_str(), 0, 1) != 0)
    return Status(Errc::internal, "NIfTI '" + path + "': cannot set the file name");
  nim->data = const_cast<void*>(data);  // borrowed: cleared before the header is freed
  nifti_image_write(nim.get());
  nim->data = nullptr;
  // nifti_image_write reports nothing: read the header back to know.
  NimPtr check(nifti_image_read(tmp.c_str(), 0));
  struct stat st {};
  const bool written = check && check->nx == d.width && check->ny == d.height &&
                       check->nz == d.depth && stat(tmp.c_str(), &st) == 0 &&
                       st.st_size > 0;
  if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status(Errc::io_error, "NIfTI '" + path + "': cannot write the file");
  }
  return Status::ok();
}

}  // namespace

bool is_nifti_path(const std::string& path) {
  return ends_with(path, ".nii") || ends_with(path, ".nii.gz");
}

std::array<std::array<double, 4>, 4> NiftiGeometry::affine() const {
  std::array<std::array<double, 4>, 4> a{};
  if (sform_code > 0) {
    for (std::size_t r = 0; r < 3; ++r) a[r] = srow[r];
  } else if (qform_code > 0) {
    const nifti_dmat44 q = nifti_quatern_to_dmat44(quatern_b, quatern_c, quatern_d, qoffset_x,
                                                   qoffset_y, qoffset_z, pixdim[0], pixdim[1],
                                                   pixdim[2], qfac < 0 ? -1.0 : 1.0);
    for (std::size_t r = 0; r < 3; ++r)
      for (std::size_t c = 0; c < 4; ++c) a[r][c] = q.m[r][c];
  } else {
    for (std::size_t r = 0; r < 3; ++r) a[r][r] = pixdim[r];
  }
  a[3] = {0, 0, 0, 1};
  return a;
}

NiftiGeometry synthetic_geometry(const Dims3& dims, double voxel_mm) {
  NiftiGeometry g;
  g.dims = dims;
  g.pixdim = {voxel_mm, voxel_mm, voxel_mm};
  g.xyz_units = NIFTI_UNITS_MM;
  g.qform_code = NIFTI_XFORM_SCANNER_ANAT;
  // diag(-1, 1, 1) (i runs right to left) = a 180 degree turn about y
  // (quaternion b, c, d = 0, 1, 0) times diag(1, 1, qfac = -1).
  g.quatern_b = 0;
  g.quatern_c = 1;
  g.quatern_d = 0;
  g.qfac = -1;
  g.qoffset_x = voxel_mm * (dims.width - 1) / 2.0;
  g.qoffset_y = -voxel_mm * (dims.height - 1) / 2.0;
  g.qoffset_z = -voxel_mm * (dims.depth - 1) / 2.0;
  g.sform_code = 0;
  g.orientation = {NIFTI_R2L, NIFTI_P2A, NIFTI_I2S};
  return g;
}

std::string orientation_text(const NiftiGeometry& g) {
  std::string s;
  for (int code : g.orientation) {
    switch (code) {
      case NIFTI_L2R: s += 'R'; break;  // i increases towards the right
      case NIFTI_R2L: s += 'L'; break;
      case NIFTI_P2A: s += 'A'; break;
      case NIFTI_A2P: s += 'P'; break;
      case NIFTI_I2S: s += 'S'; break;
      case NIFTI_S2I: s += 'I'; break;
      default: s += '?'; break;
    }
  }
  return s;
}

Result<NiftiGeometry> read_nifti_scan_geometry(const std::vector<std::string>& paths) {
  auto h = open_scan(paths);
  if (!h) return h.status();
  return h->geometry;
}

Result<NiftiScan> read_nifti_scan(const std::vector<std::string>& paths) {
  auto h = open_scan(paths);
  if (!h) return h.status();
  NiftiScan scan;
  scan.geometry = h->geometry;
  scan.image.dims = h->geometry.dims;
  scan.image.channels = kNumModalities;
  const std::size_t voxels = scan.image.dims.voxels();
  scan.image.data.resize(voxels * kNumModalities);
  for (std::size_t f = 0; f < paths.size(); ++f)
    if (Status s = load_floats(paths[f], *h->nims[f], scan.image.data.data() + f * voxels); !s)
      return s;
  return scan;
}

Result<NiftiGeometry> read_nifti_geometry(const std::string& path) {
  auto nim = open_header(path);
  if (!nim) return nim.status();
  auto volumes = volumes_of(path, **nim);
  if (!volumes) return volumes.status();
  if (*volumes != 1)
    return bad(path, "must be 3D; it has " + std::to_string(*volumes) + " volumes");
  return geometry_of(**nim);
}

Result<NiftiLabels> read_nifti_labels(const std::string& path) {
  auto nim = open_header(path);
  if (!nim) return nim.status();
  auto volumes = volumes_of(path, **nim);
  if (!volumes) return volumes.status();
  if (*volumes != 1)
    return bad(path, "a label volume must be 3D; it has " + std::to_string(*volumes) + " volumes");
  nifti_image& n = **nim;
  if (nifti_image_load(&n) != 0 || n.data == nullptr)
    return bad(path, "cannot read the voxel data (truncated or corrupt file)");
  NiftiLabels out;
  out.geometry = geometry_of(n);
  const auto count = static_cast<std::size_t>(n.nvox);
  out.labels.resize(count);
  if (n.datatype == DT_UINT8 && !has_scaling(n)) {
    std::memcpy(out.labels.data(), n.data, count);
    return out;
  }
  std::vector<double> v(count);
  switch (n.datatype) {
    case DT_UINT8: convert_double<std::uint8_t>(n.data, v.data(), count); break;
    case DT_INT8: convert_double<std::int8_t>(n.data, v.data(), count); break;
    case DT_UINT16: convert_double<std::uint16_t>(n.data, v.data(), count); break;
    case DT_INT16: convert_double<std::int16_t>(n.data, v.data(), count); break;
    case DT_UINT32: convert_double<std::uint32_t>(n.data, v.data(), count); break;
    case DT_INT32: convert_double<std::int32_t>(n.data, v.data(), count); break;
    case DT_UINT64: convert_double<std::uint64_t>(n.data, v.data(), count); break;
    case DT_INT64: convert_double<std::int64_t>(n.data, v.data(), count); break;
    case DT_FLOAT32: convert_double<float>(n.data, v.data(), count); break;
    case DT_FLOAT64: convert_double<double>(n.data, v.data(), count); break;
    default: return bad(path, "unsupported datatype");
  }
  const bool scaled = has_scaling(n);
  for (std::size_t i = 0; i < count; ++i) {
    const double x = scaled ? v[i] * n.scl_slope + n.scl_inter : v[i];
    if (!(x >= 0 && x <= 255) || x != std::floor(x)) {
      const std::size_t w = static_cast<std::size_t>(n.nx), h = static_cast<std::size_t>(n.ny);
      char value[32];
      std::snprintf(value, sizeof value, "%g", x);
      return bad(path, "label value " + std::string(value) + " at voxel (" + std::to_string(i % w) +
                           ", " + std::to_string(i / w % h) + ", " + std::to_string(i / w / h) +
                           "); accepted: integers 0..255");
    }
    out.labels[i] = static_cast<std::uint8_t>(x);
  }
  return out;
}

Status write_nifti_labels(const std::string& path, const std::uint8_t* labels,
                          const NiftiGeometry& geometry) {
  return write_image(path, DT_UINT8, labels, 1, geometry, "tensortier labels");
}

Status write_nifti_volumes(const std::string& path, const float* volumes, int channels,
                           const NiftiGeometry& geometry, const std::string& description) {
  if (channels < 1) return bad(path, "channels = " + std::to_string(channels) + "; accepted: >= 1");
  return write_image(path, DT_FLOAT32, volumes, channels, geometry, description);
}

}  // namespace tensortier::data
