package com.example;

public class Greeter {
    public static void main(String[] args) {
        System.out.println("hello");
    }
}
