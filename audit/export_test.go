package audit

// Encode is encode: the line of a record with its own hash.
var Encode = encode
