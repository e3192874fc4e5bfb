// Package reconcile keeps what extsync knows of each entity it delivered,
// per connector, in the KV bucket extsync_state: the last version
// delivered and a claim held while a version is being sent. Updated by
// revision compare-and-set, it lets several instances sharing one durable
// consumer agree that an external system never receives an older version
// of an entity after a newer one. Beside the entities, each connector has
// a lease (Lease): its instances' memberships, and the one instance that,
// running alone, sends without claims.
package reconcile
