// NIfTI-1/NIfTI-2 images in and out through Debian's libnifti2: MRI scans
// (4 modalities) as float (C, D, H, W) arrays, label volumes as u8, and the
// header geometry that makes an output overlay its input in a viewer.
//
// Axis mapping (both ways, no transposition): NIfTI stores voxel (i, j, k)
// at i + nx * (j + ny * k), x fastest; our arrays are (D, H, W), W fastest,
// so W = i (x), H = j (y), D = k (z) and Dims3 = {nz, ny, nx}. A BraTS
// 240x240x155 file is therefore {155, 240, 240}.
//
//   Result<NiftiScan> scan = read_nifti_scan({"t1.nii.gz", "t1gd.nii.gz", "t2.nii.gz",
//                                             "flair.nii.gz"});   // or {"image.nii.gz"} (4D)
//   Result<NiftiLabels> seg = read_nifti_labels("seg.nii.gz");
//   Status s = write_nifti_labels("out.nii.gz", labels.data(), scan->geometry);
//
// Every bad input (a missing file, not NIfTI, wrong dims, modalities of
// different shapes, a 4D file without exactly 4 volumes, an unsupported
// datatype, bad label values) is a Status whose message names the file; the
// library's own messages on stderr are switched off (nifti_set_debug_level(0)).
// Reentrant apart from that one process-wide library setting.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/synthetic_brats.hpp"
#include "tensortier/status.hpp"

namespace tensortier::data {

// The spatial part of a NIfTI header, copied from an input to the outputs.
struct NiftiGeometry {
  Dims3 dims;                                // {nz, ny, nx}
  std::array<double, 3> pixdim{1, 1, 1};    // voxel size along x, y, z (pixdim[1..3])
  int xyz_units = 2;                         // NIFTI_UNITS_* of pixdim (2 = mm)
  int time_units = 0;
  int qform_code = 0;                        // NIFTI_XFORM_*; 0 = no qform
  double quatern_b = 0, quatern_c = 0, quatern_d = 0;
  double qoffset_x = 0, qoffset_y = 0, qoffset_z = 0;
  double qfac = 1;                           // -1 or 1
  int sform_code = 0;                        // NIFTI_XFORM_*; 0 = no sform
  std::array<std::array<double, 4>, 3> srow{};  // sform rows (x, y, z world)
  // Anatomical direction (NIFTI_L2R .. NIFTI_S2I) of increasing i, j, k under
  // affine(); informational (what a viewer shows), recomputed on read.
  std::array<int, 3> orientation{};

  // Voxel (i, j, k) -> world: the sform if sform_code > 0, else the qform if
  // qform_code > 0, else diag(pixdim) (the rule viewers and nibabel follow).
  std::array<std::array<double, 4>, 4> affine() const;
};

// 1 mm isotropic voxels (or voxel_mm), with a qform (code 1, scanner) in the
// generator's anatomy (docs/data.md): W runs right to left, H posterior to
// anterior, D inferior to superior, i.e. LAS, centred on the world origin.
NiftiGeometry synthetic_geometry(const Dims3& dims, double voxel_mm = 1.0);

// "LAS" etc. of geometry.orientation ('?' for an axis without one).
std::string orientation_text(const NiftiGeometry& geometry);

struct NiftiScan {
  Volume image;  // channels = kNumModalities, CDHW, scl_slope/scl_inter applied
  NiftiGeometry geometry;
};

// A scan: 4 paths (3D T1, T1Gd, T2, FLAIR of one shape; the geometry is the
// first file's) or 1 path (4D with 4 volumes in that order). Any integer or
// real datatype is converted to float.
Result<NiftiScan> read_nifti_scan(const std::vector<std::string>& paths);
// The same checks without reading the voxels (headers only): the geometry.
Result<NiftiGeometry> read_nifti_scan_geometry(const std::vector<std::string>& paths);

struct NiftiLabels {
  std::vector<std::uint8_t> labels;  // DHW, the values stored in the file
  NiftiGeometry geometry;
};

// A 3D label volume of any integer or real datatype whose values (after
// scaling) are integers in 0..255.
Result<NiftiLabels> read_nifti_labels(const std::string& path);
Result<NiftiGeometry> read_nifti_geometry(const std::string& path);  // header only, 3D

// Writes u8 labels (D, H, W = geometry.dims) to path (.nii, or .nii.gz for
// a gzip-compressed file) with the geometry's header fields. The file appears
// complete or not at all (written under a temporary name, then renamed).
Status write_nifti_labels(const std::string& path, const std::uint8_t* labels,
                          const NiftiGeometry& geometry);

// Writes `channels` float volumes (C, D, H, W) as one 4D file (a 3D file for
// channels == 1), e.g. softmax probabilities per class or a 4D scan.
Status write_nifti_volumes(const std::string& path, const float* volumes, int channels,
                           const NiftiGeometry& geometry, const std::string& description = {});

// True for names ending in .nii or .nii.gz.
bool is_nifti_path(const std::string& path);

}  // namespace tensortier::data
