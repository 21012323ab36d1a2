/**
 * Factor for the deadlines of tests that wait for a container to do something, from
 * BULKHEAD_TEST_TIME_SCALE (at least 1). The kernel matrix sets it to 10 because code in its
 * emulated VMs runs about ten times slower.
 */
export const TIME_SCALE = Math.max(1, Number(process.env['BULKHEAD_TEST_TIME_SCALE'] ?? 1) || 1);
