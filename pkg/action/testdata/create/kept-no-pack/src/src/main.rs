use std::io::Write;
use std::net::TcpListener;

fn main() {
    let listener = TcpListener::bind("0.0.0.0:7878").unwrap();
    for stream in listener.incoming() {
        let mut s = stream.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\necho").unwrap();
    }
}
