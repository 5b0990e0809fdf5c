// Package git holds Strata's Git vocabulary (object ids, reference names,
// namespaces) and the one factory that runs the git binary.
//
// Every git process Strata starts goes through Factory: it picks the binary,
// pins the environment so an operator's ~/.gitconfig or a stray GIT_DIR can't
// steer the server, puts user input after "--" or "--end-of-options", and ties
// the process to a context.
package git
