# SPDX-License-Identifier: BSD-3-Clause
# Dependency checks. Each sets HAVE_<DEP> (AM_CONDITIONAL and config.h) and a
# one-word summary for configure's closing report.

AC_DEFUN([AX_PTHREAD_SIMPLE], [
  AC_SEARCH_LIBS([pthread_create], [pthread], [],
    [AC_MSG_ERROR([POSIX threads are required])])
])

# --with-verbs=auto|yes|no: the verbs transport needs libibverbs and librdmacm.
AC_DEFUN([RCOMM_CHECK_VERBS], [
  AC_ARG_WITH([verbs],
    [AS_HELP_STRING([--with-verbs=auto|yes|no],
      [build the verbs transport (libibverbs + librdmacm); default auto])],
    [], [with_verbs=auto])
  rcomm_have_verbs=no
  AS_IF([test "x$with_verbs" != xno], [
    rcomm_have_verbs=yes
    AC_CHECK_HEADERS([infiniband/verbs.h rdma/rdma_cma.h], [], [rcomm_have_verbs=no])
    AC_CHECK_LIB([ibverbs], [ibv_open_device], [:], [rcomm_have_verbs=no])
    AC_CHECK_LIB([rdmacm], [rdma_create_id], [:], [rcomm_have_verbs=no])
    AS_IF([test "x$with_verbs" = xyes && test "x$rcomm_have_verbs" = xno],
      [AC_MSG_ERROR([--with-verbs=yes but libibverbs/librdmacm headers or libraries are missing (Debian: apt-get install libibverbs-dev librdmacm-dev)])])
  ])
  AS_IF([test "x$rcomm_have_verbs" = xyes], [
    VERBS_LIBS="-lrdmacm -libverbs"
    AC_DEFINE([HAVE_VERBS], [1], [Build the verbs transport])
    rcomm_verbs_summary=yes
  ], [rcomm_verbs_summary="no (the verbs transport will not be built)"])
  AC_SUBST([VERBS_LIBS])
  AM_CONDITIONAL([HAVE_VERBS], [test "x$rcomm_have_verbs" = xyes])
])

AC_DEFUN([RCOMM_CHECK_HWLOC], [
  PKG_CHECK_MODULES([HWLOC], [hwloc], [rcomm_hwloc_summary=yes
    AC_DEFINE([HAVE_HWLOC], [1], [hwloc found])], [rcomm_hwloc_summary=no])
  AM_CONDITIONAL([HAVE_HWLOC], [test "x$rcomm_hwloc_summary" = xyes])
])

AC_DEFUN([RCOMM_CHECK_OPENBLAS], [
  PKG_CHECK_MODULES([OPENBLAS], [openblas], [rcomm_openblas_summary=yes],
    [AC_CHECK_LIB([openblas], [cblas_sgemm],
      [OPENBLAS_LIBS=-lopenblas; rcomm_openblas_summary=yes],
      [rcomm_openblas_summary=no])])
  AS_IF([test "x$rcomm_openblas_summary" = xyes],
    [AC_DEFINE([HAVE_OPENBLAS], [1], [OpenBLAS cblas found])])
  AC_SUBST([OPENBLAS_LIBS])
  AM_CONDITIONAL([HAVE_OPENBLAS], [test "x$rcomm_openblas_summary" = xyes])
])

AC_DEFUN([RCOMM_CHECK_CHECK], [
  PKG_CHECK_MODULES([CHECK], [check >= 0.11], [rcomm_check_summary=yes],
    [rcomm_check_summary="no (make check will fail: apt-get install check)"])
  AM_CONDITIONAL([HAVE_CHECK], [test "x$rcomm_check_summary" = xyes])
])

# zlib: the training example reads Debian's gzipped Fashion-MNIST files.
AC_DEFUN([RCOMM_CHECK_ZLIB], [
  PKG_CHECK_MODULES([ZLIB], [zlib], [rcomm_zlib_summary=yes],
    [rcomm_zlib_summary="no (examples/train_mnist is not built: apt-get install zlib1g-dev)"])
  AM_CONDITIONAL([HAVE_ZLIB], [test "x$rcomm_zlib_summary" = xyes])
])

# libsodium: the job key's MAC (keyed BLAKE2b), nonces and constant-time
# comparison. Required: authentication is not optional.
AC_DEFUN([RCOMM_CHECK_SODIUM], [
  PKG_CHECK_MODULES([SODIUM], [libsodium >= 1.0.18], [],
    [AC_MSG_ERROR([libsodium is required (Debian: apt-get install libsodium-dev)])])
])

# xxHash: the parameter server's blocks carry an XXH64 checksum, so that a
# worker can tell a whole block from a torn one in a single read. Required.
AC_DEFUN([RCOMM_CHECK_XXHASH], [
  PKG_CHECK_MODULES([XXHASH], [libxxhash >= 0.8], [],
    [AC_MSG_ERROR([libxxhash >= 0.8 is required (Debian: apt-get install libxxhash-dev)])])
])

# PMIx: the bootstrap through the launcher's process-management server
# (srun --mpi=pmix, mpirun), src/bootstrap/pmix.c. Optional: --with-pmix
# (the default: when found), --without-pmix.
AC_DEFUN([RCOMM_CHECK_PMIX], [
  AC_ARG_WITH([pmix],
    [AS_HELP_STRING([--with-pmix], [bootstrap through PMIx (default: when found)])],
    [], [with_pmix=check])
  rcomm_pmix_summary="no (--without-pmix)"
  AS_IF([test "x$with_pmix" != xno], [
    PKG_CHECK_MODULES([PMIX], [pmix], [rcomm_pmix_summary=yes],
      [AC_CHECK_LIB([pmix], [PMIx_Init],
        [PMIX_LIBS=-lpmix; rcomm_pmix_summary=yes],
        [rcomm_pmix_summary="no (RCOMM_BOOTSTRAP=pmix unavailable: apt-get install libpmix-dev)"])])
    AS_IF([test "x$with_pmix" = xyes && test "x$rcomm_pmix_summary" != xyes],
      [AC_MSG_ERROR([--with-pmix: libpmix not found (Debian: apt-get install libpmix-dev)])])])
  AS_IF([test "x$rcomm_pmix_summary" = xyes],
    [AC_DEFINE([HAVE_PMIX], [1], [PMIx found])])
  AC_SUBST([PMIX_CFLAGS])
  AC_SUBST([PMIX_LIBS])
  AM_CONDITIONAL([HAVE_PMIX], [test "x$rcomm_pmix_summary" = xyes])
])
