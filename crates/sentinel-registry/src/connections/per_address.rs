//! Open connections counted per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The key a client address is counted under: an IPv6 client usually has a
/// whole /64 to pick addresses from, so it counts as one; an IPv4 address
/// mapped into IPv6 counts as itself.
pub(crate) fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Open connections per client address.
pub(super) struct AddressCounts {
    pub(super) max: usize,
    pub(super) counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection counted against its address; dropped when it closes.
pub(super) struct AddressSlot {
    counts: Arc<AddressCounts>,
    key: IpAddr,
}

impl AddressCounts {
    pub(super) fn take(self: &Arc<Self>, address: IpAddr) -> Option<AddressSlot> {
        if self.max == 0 {
            return Some(AddressSlot {
                counts: Arc::clone(self),
                key: address,
            });
        }
        let key = client_key(address);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: Arc::clone(self),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if self.counts.max == 0 {
            return;
        }
        let mut counts = self.counts.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}
