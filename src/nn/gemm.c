#include "adaptor/nn.h"

#include <blis.h>

void ad_gemm(int transa, int transb, int m, int n, int k, float alpha, const float *a,
             int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    /* BLIS takes general strides: row-major storage is (row stride ld, column stride 1),
     * and a transpose applies to the matrix as stored. */
    bli_sgemm(transa ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              transb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float *)a, lda, 1,
              (float *)b, ldb, 1, &beta, c, ldc, 1);
}
