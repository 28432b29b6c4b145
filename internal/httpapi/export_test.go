package httpapi

// CreateStreamMemory is what one JSON upload reserves in the in-flight
// budget, for the tests of package httpapi_test.
const CreateStreamMemory = createStreamMemory
