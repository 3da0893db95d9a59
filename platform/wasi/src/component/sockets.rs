//! `wasi:sockets`, linked only so that components whose libc imports it (Python's) load:
//! every function traps. A served function reaches the network through
//! `wasi:http/outgoing-handler` only, as the `wasi:http/proxy` world intends.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceType};

/// The interface prefix of what this links.
pub const SOCKETS: &str = "wasi:sockets/";

/// Resource types by the interface that defines them (a `use` elsewhere refers to these).
struct Network;
struct TcpSocket;
struct UdpSocket;
struct IncomingDatagramStream;
struct OutgoingDatagramStream;
struct ResolveAddressStream;

/// The host type standing for resource `name` defined by `interface` (unversioned), if it is
/// defined there rather than used from another interface.
fn owned(interface: &str, name: &str) -> Option<ResourceType> {
    Some(match (interface, name) {
        ("network", "network") => ResourceType::host::<Network>(),
        ("tcp", "tcp-socket") => ResourceType::host::<TcpSocket>(),
        ("udp", "udp-socket") => ResourceType::host::<UdpSocket>(),
        ("udp", "incoming-datagram-stream") => ResourceType::host::<IncomingDatagramStream>(),
        ("udp", "outgoing-datagram-stream") => ResourceType::host::<OutgoingDatagramStream>(),
        ("ip-name-lookup", "resolve-address-stream") => {
            ResourceType::host::<ResolveAddressStream>()
        }
        _ => return None,
    })
}

/// Defines every `wasi:sockets` function `component` imports as a trap, and the resources
/// they use (no instance of which can ever be made).
pub fn link_as_traps<T: 'static>(
    linker: &mut Linker<T>,
    component: &Component,
) -> wasmtime::Result<()> {
    let engine = linker.engine().clone();
    for (import, item) in component.component_type().imports(&engine) {
        let Some(rest) = import.strip_prefix(SOCKETS) else {
            continue;
        };
        let interface = rest.split('@').next().unwrap_or(rest);
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut linked = linker.instance(import)?;
        for (name, export) in instance.exports(&engine) {
            match export.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = alloc::format!("{import}#{name}");
                    linked.func_new(name, move |_, _, _, _| {
                        Err(wasmtime::Error::msg(alloc::format!(
                            "{what}: sockets are not available; use wasi:http/outgoing-handler"
                        )))
                    })?;
                }
                ComponentItem::Resource(_) => {
                    if let Some(ty) = owned(interface, name) {
                        linked.resource(name, ty, |_, _| Ok(()))?;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}
