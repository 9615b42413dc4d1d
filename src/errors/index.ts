export { ZoeError, toZoeError, type ZoeErrorCode } from "./zoe-error.js";
export { InputError, INPUT_ERROR_CODES } from "./input-error.js";
export { ModelError } from "./model-error.js";
