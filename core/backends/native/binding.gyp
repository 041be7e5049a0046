{
  # The native backend's addon. The GEMM kernels for AVX2+FMA and AVX-512 are separate
  # static libraries compiled with their ISA flags (x86-64 only); the addon picks one at run
  # time with __builtin_cpu_supports, so one build runs on any CPU of the architecture.
  'target_defaults': {
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti'],
    'cflags_cc': ['-std=c++17', '-O3', '-fexceptions'],
    'xcode_settings': {
      'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'OTHER_CPLUSPLUSFLAGS': ['-O3'],
    },
    'msvs_settings': { 'VCCLCompilerTool': { 'ExceptionHandling': 1 } },
  },
  'targets': [
    {
      'target_name': 'ctrlora_native',
      'sources': [
        'src/addon.cc', 'src/threadpool.cc', 'src/gemm.cc', 'src/gemm_portable.cc',
        'src/elementwise.cc', 'src/rows.cc', 'src/conv.cc', 'src/misc.cc',
      ],
      'conditions': [
        ['target_arch=="x64"', { 'dependencies': ['gemm_avx2', 'gemm_avx512'] }],
        ['OS=="linux"', { 'libraries': ['-lpthread'] }],
      ],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      'targets': [
        {
          'target_name': 'gemm_avx2',
          'type': 'static_library',
          'sources': ['src/gemm_avx2.cc'],
          'cflags_cc': ['-mavx2', '-mfma'],
          'xcode_settings': { 'OTHER_CPLUSPLUSFLAGS': ['-O3', '-mavx2', '-mfma'] },
          'msvs_settings': { 'VCCLCompilerTool': { 'EnableEnhancedInstructionSet': '5' } },
        },
        {
          'target_name': 'gemm_avx512',
          'type': 'static_library',
          'sources': ['src/gemm_avx512.cc'],
          'cflags_cc': ['-mavx512f', '-mfma'],
          'xcode_settings': { 'OTHER_CPLUSPLUSFLAGS': ['-O3', '-mavx512f', '-mfma'] },
          'msvs_settings': { 'VCCLCompilerTool': { 'AdditionalOptions': ['/arch:AVX512'] } },
        },
      ],
    }],
  ],
}
